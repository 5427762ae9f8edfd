"""A seat Do request is checked against the schedule before the database is touched."""

from __future__ import annotations

from datetime import UTC

import pytest

from flightsaga.v1.common_pb2 import CabinClass
from sagakit.errors import InvalidArgument, NotFound, Reason, Rejected
from seat_service import inventory
from seat_service.schedule import AHEAD_DAYS
from tests.support.dates import flight_id

F1, F2 = flight_id("FS101", 1), flight_id("FS102", 5)


def test_a_valid_request() -> None:
    r = inventory.reservation([F1, f2 := F2.lower()], CabinClass.BUSINESS, 2, [(f2, 1, "4c")])
    assert [f.flight_id for f in r.flights] == [F1, F2]
    assert r.selections == {(F2, 1): "4C"}


@pytest.mark.parametrize(
    ("args", "error", "field"),
    [
        (([], CabinClass.ECONOMY, 1, []), InvalidArgument, "flight_ids"),
        (([F1, F1], CabinClass.ECONOMY, 1, []), InvalidArgument, "flight_ids[1]"),
        (
            ([flight_id("FS101", AHEAD_DAYS + 1)], CabinClass.ECONOMY, 1, []),
            NotFound,
            "flight_ids[0]",
        ),
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


def test_a_departed_flight_passes_the_checks_and_is_refused_when_held() -> None:
    """A departed flight is still on the schedule (its holds can be read and released); only
    a new hold is refused, naming the field and the departure."""
    gone = flight_id("FS101", -1)
    r = inventory.reservation([F1, gone], CabinClass.ECONOMY, 1, [])
    inventory.refuse_departed(0, r.flights[0])
    with pytest.raises(Rejected) as caught:
        inventory.refuse_departed(1, r.flights[1])
    err = caught.value
    assert err.reason == Reason.FLIGHT_DEPARTED
    assert err.code.name == "FAILED_PRECONDITION"
    assert err.metadata["field"] == "flight_ids[1]"
    departure = r.flights[1].departure.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (
        err.message == f"flight_ids[1]: flight {gone} departed at {departure}; book a later flight"
    )
