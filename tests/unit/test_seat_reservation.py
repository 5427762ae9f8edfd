"""A seat Do request is checked against the schedule before the database is touched."""

from __future__ import annotations

import pytest

from flightsaga.v1.common_pb2 import CabinClass
from sagakit.errors import InvalidArgument, NotFound
from seat_service import inventory

F1, F2 = "FS101-20261201", "FS102-20261205"


def test_a_valid_request() -> None:
    r = inventory.reservation([F1, f2 := F2.lower()], CabinClass.BUSINESS, 2, [(f2, 1, "4c")])
    assert [f.flight_id for f in r.flights] == [F1, F2]
    assert r.selections == {(F2, 1): "4C"}


@pytest.mark.parametrize(
    ("args", "error", "field"),
    [
        (([], CabinClass.ECONOMY, 1, []), InvalidArgument, "flight_ids"),
        (([F1, F1], CabinClass.ECONOMY, 1, []), InvalidArgument, "flight_ids[1]"),
        ((["FS101-20270401"], CabinClass.ECONOMY, 1, []), NotFound, "flight_ids[0]"),
        (([F1], 0, 1, []), InvalidArgument, "cabin_class"),
        (([F1], 9, 1, []), InvalidArgument, "cabin_class"),
        (([F1], CabinClass.ECONOMY, 0, []), InvalidArgument, "passengers"),
        (([F1], CabinClass.ECONOMY, 10, []), InvalidArgument, "passengers"),
        (([F1], CabinClass.ECONOMY, 1, [(F2, 0, "12A")]), InvalidArgument, "seat_selections[0]"),
        (([F1], CabinClass.ECONOMY, 1, [(F1, 0, "12Z")]), InvalidArgument, "seat_selections[0]"),
        (([F1], CabinClass.ECONOMY, 1, [(F1, 0, "99A")]), InvalidArgument, "seat_selections[0]"),
        (
            ([F1], CabinClass.ECONOMY, 2, [(F1, 0, "12A"), (F1, 1, "12A")]),
            InvalidArgument,
            "seat_selections[1]",
        ),
        (
            ([F1], CabinClass.ECONOMY, 2, [(F1, 0, "12A"), (F1, 0, "12B")]),
            InvalidArgument,
            "seat_selections[1]",
        ),
    ],
)
def test_bad_requests_name_the_field(
    args: tuple[list[str], int, int, list[tuple[str, int, str]]], error: type, field: str
) -> None:
    with pytest.raises(error) as info:
        inventory.reservation(*args)
    assert str(info.value).startswith(field)
