"""The trip saga's declaration (examples/trip): its input check, steps, participants, requests
and summary."""

from __future__ import annotations

import ast
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from examples.trip import CAR, HOTEL, SAGA, TRIP, check, trip_pb2
from orchestrator import from_declaration
from sagakit.errors import InvalidArgument

TODAY = date(2030, 6, 1)
GOOD = trip_pb2.TripRequest(guest="Ann Lee", city="LIS", check_in="2030-06-10", nights=3)
DECLARATION = Path(__file__).resolve().parents[2] / "examples" / "trip" / "declaration.py"
STDLIB = {"__future__", "collections", "datetime", "re", "typing"}
ALLOWED = {
    "sagakit.validate", "sagakit.errors", "sagas.declare",
    "examples.trip.trip_pb2", "examples.trip.trip_pb2_grpc",
}  # fmt: skip


def trip(**changes: Any) -> trip_pb2.TripRequest:
    req = trip_pb2.TripRequest()
    req.CopyFrom(GOOD)
    for name, value in changes.items():
        setattr(req, name, value)
    return req


def test_a_good_trip_passes_in_any_case_of_city_and_car_class() -> None:
    check(GOOD, TODAY)
    check(trip(city="lis", car_class="SUV", check_in="2030-06-01", nights=30), TODAY)
    for car_class in ("", "economy", "compact", "suv"):
        check(trip(car_class=car_class), TODAY)


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"guest": ""}, "input.guest", "required"),
        ({"guest": "   "}, "input.guest", "required"),
        ({"guest": "x" * 101}, "input.guest", "too long"),
        ({"city": ""}, "input.city", "3 letters"),
        ({"city": "LI"}, "input.city", "3 letters"),
        ({"city": "LISB"}, "input.city", "3 letters"),
        ({"city": "L1S"}, "input.city", "3 letters"),
        ({"check_in": ""}, "input.check_in", "YYYY-MM-DD"),
        ({"check_in": "10/06/2030"}, "input.check_in", "YYYY-MM-DD"),
        ({"check_in": "2030-02-30"}, "input.check_in", "calendar date"),
        ({"check_in": "2030-05-31"}, "input.check_in", "in the past"),
        ({"nights": 0}, "input.nights", "1..30"),
        ({"nights": 31}, "input.nights", "1..30"),
        ({"car_class": "van"}, "input.car_class", "economy, compact, suv"),
    ],
)
def test_check_refuses_each_bad_field_naming_it(
    changes: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(InvalidArgument) as info:
        check(trip(**changes), TODAY)
    assert info.value.field == field
    assert words in info.value.problem


def test_the_saga_is_declared_with_its_two_steps_in_order() -> None:
    assert SAGA is TRIP
    assert (TRIP.name, TRIP.version, TRIP.input) == ("trip", 1, trip_pb2.TripRequest)
    assert TRIP.title == "Book a trip (hotel + car)"
    assert TRIP.check is check
    assert [(s.name, s.participant, s.aliases) for s in TRIP.steps] == [
        ("book_room", HOTEL, ("hotel", "room")),
        ("rent_car", CAR, ("car",)),
    ]
    assert all(s.title and s.short and s.undo for s in TRIP.steps)


@pytest.mark.parametrize(
    ("given", "wire"),
    [("book_room", "book_room"), ("Hotel", "book_room"), (" room ", "book_room"),
     ("RENT-CAR", "rent_car"), ("car", "rent_car")],
)  # fmt: skip
def test_step_names_and_aliases(given: str, wire: str) -> None:
    assert TRIP.canonical_step(given, "fail_at") == wire


def test_an_unknown_step_names_every_known_one() -> None:
    with pytest.raises(InvalidArgument) as info:
        TRIP.canonical_step("seat", "fail_at")
    assert info.value.field == "fail_at"
    assert "(known: book_room, rent_car, hotel, room, car)" in str(info.value)


def test_the_participants_ports_variables_and_databases() -> None:
    got = [(p.name, p.package, p.default_port, p.env_var, p.database) for p in (HOTEL, CAR)]
    assert got == [
        ("hotel", "examples.trip.hotel_service", 50055, "HOTEL_SERVICE_ADDR", "hotel_service"),
        ("car", "examples.trip.car_service", 50056, "CAR_SERVICE_ADDR", "car_service"),
    ]
    assert HOTEL.compensate_request(saga_id="s").saga_id == "s"  # type: ignore[attr-defined]
    assert CAR.compensate_request(saga_id="s").saga_id == "s"  # type: ignore[attr-defined]


def test_the_car_is_rented_in_the_rooms_city_for_its_nights() -> None:
    """The car step reads the room's reply as the engine rebuilds it from the saga log: typed,
    with just the fields the room step keeps."""
    room, car = TRIP.steps
    logged = {
        "book_room": {
            "saga_id": "s-1", "reservation_id": "HTL-1", "city": "LIS", "nights": 3,
            "price_cents": 28500, "currency": "USD",
        }
    }  # fmt: skip
    reply = from_declaration.typed_reply(logged, room, HOTEL.do_reply())
    req = trip(city="lis", car_class="suv")

    assert room.request("s-1", req) == trip_pb2.BookRoomRequest(
        saga_id="s-1", guest="Ann Lee", city="lis", check_in="2030-06-10", nights=3
    )
    assert car.request("s-1", req, reply) == trip_pb2.RentCarRequest(
        saga_id="s-1", driver="Ann Lee", city="LIS", pick_up="2030-06-10", days=3, car_class="suv"
    )


def test_the_summary_gives_both_references_and_the_total() -> None:
    results: dict[str, dict[str, Any]] = {
        "book_room": {"reservation_id": "HTL-1", "price_cents": 28500},
        "rent_car": {"rental_id": "CAR-1", "price_cents": "10500"},  # int64 may come as text
    }
    assert TRIP.summarize(results) == {
        "reservation_id": "HTL-1",
        "rental_id": "CAR-1",
        "total_cents": 39000,
    }
    assert TRIP.summarize({}) == {"reservation_id": "", "rental_id": "", "total_cents": 0}


def test_the_declaration_is_client_safe() -> None:
    """Like sagas/: protobuf stubs, the stdlib and the kit's pure checks; no engine, no server."""
    for node in ast.walk(ast.parse(DECLARATION.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
            if node.module in ("sagakit", "examples.trip"):
                names = [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            assert name.split(".")[0] in STDLIB or name in ALLOWED, name
