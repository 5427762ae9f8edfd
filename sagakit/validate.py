"""Field checks shared by every service. Each failure names the field (InvalidArgument)."""

from __future__ import annotations

import re
from collections.abc import Sized
from datetime import date

from sagakit.errors import InvalidArgument

# The limits of one booking, the same in every service: legs (flights) and travellers.
MAX_LEGS = 4
MAX_PASSENGERS = 9

MAX_ID = 64
MAX_NAME = 64
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def text(field: str, value: str, max_len: int = MAX_ID, required: bool = True) -> str:
    value = value.strip()
    if required and not value:
        raise InvalidArgument(field, "is required")
    if len(value) > max_len:
        raise InvalidArgument(field, f"is too long ({len(value)} > {max_len} characters)")
    if any(ord(c) < 32 for c in value):
        raise InvalidArgument(field, "contains control characters")
    return value


def saga_id(value: str) -> str:
    return text("saga_id", value)


def count(field: str, items: Sized, lo: int, hi: int) -> None:
    n = len(items)
    if n < lo:
        raise InvalidArgument(field, f"needs at least {lo} (got {n})")
    if n > hi:
        raise InvalidArgument(field, f"allows at most {hi} (got {n})")


def non_negative(field: str, value: int, hi: int = 10**12) -> int:
    if value < 0:
        raise InvalidArgument(field, f"must not be negative (got {value})")
    if value > hi:
        raise InvalidArgument(field, f"is too large (got {value}, at most {hi})")
    return value


def iso_date(field: str, value: str, required: bool = True) -> str:
    value = value.strip()
    if not value and not required:
        return ""
    if not _DATE.match(value):
        raise InvalidArgument(field, f"must be a date YYYY-MM-DD (got {value[:20]!r})")
    try:
        date.fromisoformat(value)
    except ValueError:
        # The pattern alone lets through dates that do not exist, like 2026-02-30.
        raise InvalidArgument(field, f"is not a calendar date (got {value!r})") from None
    return value


def passenger(field: str, first_name: str, last_name: str, date_of_birth: str) -> tuple[str, ...]:
    """One traveller's fields (`field` is e.g. "passengers[0]"); returns them cleaned."""
    return (
        text(f"{field}.first_name", first_name, MAX_NAME),
        text(f"{field}.last_name", last_name, MAX_NAME),
        iso_date(f"{field}.date_of_birth", date_of_birth, required=False),
    )
