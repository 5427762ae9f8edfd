"""The airports FlightSaga Air flies to, with their time zones, and a time shown at one."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

AIRPORTS: dict[str, ZoneInfo] = {
    code: ZoneInfo(tz)
    for code, tz in {
        "JFK": "America/New_York",
        "BOS": "America/New_York",
        "ORD": "America/Chicago",
        "DEN": "America/Denver",
        "LAX": "America/Los_Angeles",
        "SFO": "America/Los_Angeles",
        "SEA": "America/Los_Angeles",
        "LHR": "Europe/London",
    }.items()
}


def airport_time(when: datetime, airport: str, with_date: bool = True) -> str:
    """`2026-12-01 08:00 EST`: a time at an airport, in its zone (UTC for an unknown airport)."""
    zone = AIRPORTS.get(airport.upper())
    at = when.astimezone(zone if zone is not None else UTC)
    return at.strftime("%Y-%m-%d %H:%M %Z" if with_date else "%H:%M %Z")
