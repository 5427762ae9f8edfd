"""Flight dates relative to today, so that tests keep booking flights that have not left.

The seat service's schedule rolls with the clock (seat_service/schedule.py): flights exist from
a year back to half a year ahead, and a departed flight cannot be booked. `days=1` is tomorrow
(UTC), whose every flight departs after now, whatever the time of day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta


def flight_day(days: int = 1) -> date:
    """Today (UTC) plus `days`."""
    return datetime.now(UTC).date() + timedelta(days=days)


def flight_date(days: int = 1) -> str:
    """`YYYY-MM-DD`, `days` from today: what a search or `flightsaga book --date` takes."""
    return flight_day(days).isoformat()


def flight_id(number: str = "FS101", days: int = 1) -> str:
    """`FS101-YYYYMMDD`, the flight `number` departing `days` from today (local date)."""
    return f"{number}-{flight_day(days):%Y%m%d}"
