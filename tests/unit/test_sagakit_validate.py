"""Shared field checks: every failure names the field."""

from __future__ import annotations

import pytest

from sagakit import validate
from sagakit.errors import InvalidArgument


def test_text_strips_and_bounds() -> None:
    assert validate.text("f", "  abc ") == "abc"
    assert validate.text("f", "", required=False) == ""
    for bad in ("", "   ", "x" * 65, "a\nb"):
        with pytest.raises(InvalidArgument) as info:
            validate.text("f", bad)
        assert info.value.field == "f"


@pytest.mark.parametrize("value", ["2026-13-01", "2027-02-29", "2026-04-31", "26-12-01", "x"])
def test_iso_date_rejects_impossible_or_malformed_dates(value: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        validate.iso_date("date", value)
    assert info.value.field == "date"


def test_iso_date_accepts_real_dates_and_optional_empty() -> None:
    assert validate.iso_date("date", "2028-02-29") == "2028-02-29"
    assert validate.iso_date("date", "", required=False) == ""


def test_passenger_names_the_subfield() -> None:
    assert validate.passenger("passengers[0]", " Ann ", "Lee", "") == ("Ann", "Lee", "")
    with pytest.raises(InvalidArgument) as info:
        validate.passenger("passengers[2]", "Ann", "", "")
    assert info.value.field == "passengers[2].last_name"
    with pytest.raises(InvalidArgument) as info:
        validate.passenger("passengers[0]", "Ann", "Lee", "1990-02-30")
    assert info.value.field == "passengers[0].date_of_birth"


def test_non_negative_and_count() -> None:
    assert validate.non_negative("points", 0) == 0
    with pytest.raises(InvalidArgument, match=r"^points: must not be negative"):
        validate.non_negative("points", -1)
    with pytest.raises(InvalidArgument, match=r"^legs: needs at least 1"):
        validate.count("legs", [], 1, 4)
