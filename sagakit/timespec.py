"""A moment as people type it: `30m`, `1h`, `2d` ago, or an ISO date or date-time.

Used wherever sagas are found by when they were created (the CLI's `--since`/`--until`, the
dashboard's `since`/`until`). Pure: `now` is given or read once; naive ISO times are UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_RELATIVE = re.compile(r"^(\d{1,6})\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
HELP = "`30m`, `1h`, `2d` (that long ago; also s, w) or an ISO date/time such as 2026-12-07T12:00"


class TimeSpecError(ValueError):
    """A moment that cannot be read; `field` names where it was given (`--since`, `until`)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def moment(text: str, field: str, now: datetime | None = None) -> datetime:
    """The UTC moment `text` means; TimeSpecError naming `field` if it means none."""
    given = text.strip()
    relative = _RELATIVE.match(given.lower())
    if relative:
        amount = timedelta(**{_UNITS[relative.group(2)]: int(relative.group(1))})
        return (now or datetime.now(UTC)) - amount
    try:
        parsed = datetime.fromisoformat(given)
    except ValueError:
        raise TimeSpecError(field, f"{text[:40]!r} is not {HELP}") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
