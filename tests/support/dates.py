"""Flight dates relative to today, so that tests keep booking flights that have not left.

The seat service's schedule rolls with the clock (seat_service/schedule.py): flights exist from
a year back to half a year ahead, and a departed flight cannot be booked. `days=1` is tomorrow
(UTC), whose every flight departs after now, whatever the time of day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def flight_day(days: int = 1) -> date:
    """Today (UTC) plus `days`."""
    return datetime.now(UTC).date() + timedelta(days=days)


def flight_date(days: int = 1) -> str:
    """`YYYY-MM-DD`, `days` from today: what a search or `flightsaga book --date` takes."""
    return flight_day(days).isoformat()


def flight_id(number: str = "FS101", days: int = 1) -> str:
    """`FS101-YYYYMMDD`, the flight `number` departing `days` from today (local date)."""
    return f"{number}-{flight_day(days):%Y%m%d}"


NEW_YORK = ZoneInfo("America/New_York")


def days_to(summer: bool, zone: ZoneInfo = NEW_YORK) -> int:
    """The fewest days from today (1 or more) to a day on summer time (DST) in `zone`, or, with
    `summer=False`, on standard time: for tests that check the zone's offset."""
    for days in range(1, 367):
        noon = datetime.combine(flight_day(days), time(12), zone)
        if bool(noon.dst()) == summer:
            return days
    raise AssertionError(f"{zone} has no {'summer' if summer else 'standard'} time")


def at(days: int, local: time, zone: ZoneInfo = NEW_YORK) -> datetime:
    """`local` o'clock in `zone`, `days` from today (an aware datetime)."""
    return datetime.combine(flight_day(days), local, zone)
