"""The CLI's date arguments: absolute, or relative to today so examples never go stale."""

from __future__ import annotations

import pytest

from cli.common import day
from tests.support.dates import flight_date


@pytest.mark.parametrize(
    ("given", "days"), [("today", 0), ("tomorrow", 1), ("Tomorrow", 1), ("+7", 7), ("+0", 0)]
)
def test_relative_dates_count_from_today(given: str, days: int) -> None:
    assert day(given) == flight_date(days)


@pytest.mark.parametrize("given", ["2027-01-15", "2027-02-30", "+x", "-1", "yesterday", ""])
def test_anything_else_is_passed_on_for_the_seat_service_to_check(given: str) -> None:
    assert day(given) == given
