"""A time at an airport, in that airport's zone, as a ticket prints it.

Shared by the CLI (cli/render.py) and the dashboard (dashboard/jsonview.py).
"""

from __future__ import annotations

from datetime import UTC, datetime

from seat_service.schedule import AIRPORTS


def airport_time(when: datetime, airport: str, with_date: bool = True) -> str:
    """`2026-12-01 08:00 EST`: a time at an airport, in its zone (UTC for an unknown airport)."""
    zone = AIRPORTS.get(airport.upper())
    at = when.astimezone(zone if zone is not None else UTC)
    return at.strftime("%Y-%m-%d %H:%M %Z" if with_date else "%H:%M %Z")
