"""The booking saga's one declaration (sagas/): its steps, participants and registry."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format

from flightsaga.v1 import common_pb2
from orchestrator import from_declaration
from orchestrator.engine.definition import RetryPolicy
from sagakit.errors import InvalidArgument
from sagas import services
from sagas.booking import BOOK_FLIGHT, canonical_step
from sagas.peers import Addrs, Peers

SAGAS = Path(__file__).resolve().parents[2] / "sagas"


def test_the_declaration_is_client_safe() -> None:
    """sagas/ imports the protobuf stubs, the stdlib and the kit's pure checks: no engine, no
    server code, so every client may import it."""
    stdlib = {"__future__", "collections", "dataclasses", "datetime", "typing", "zoneinfo"}
    stdlib |= {"importlib"}  # registry.py imports the modules SAGAS names
    kit = {"sagakit.errors", "sagakit.card_fields", "sagakit.validate", "sagakit.config"}
    for path in SAGAS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
                if node.module == "sagakit":
                    names = [f"sagakit.{a.name}" for a in node.names]
            else:
                continue
            for name in names:
                ok = name.split(".")[0] in stdlib or name in kit
                ok = ok or name.startswith(("flightsaga.v1", "google.protobuf", "sagas"))
                if path.name == "peers.py":  # the clients' channels: gRPC and the kit's dialing
                    ok = ok or name in ("grpc", "sagakit.channels", "sagakit.config")
                assert ok, f"{path.name} imports {name}"


def test_steps_in_saga_order_with_their_participants() -> None:
    assert [(s.name, s.participant.name) for s in BOOK_FLIGHT.steps] == [
        ("reserve_seat", "seat"),
        ("deduct_loyalty_points", "loyalty"),
        ("process_payment", "payment"),
        ("confirm_booking", "booking"),
    ]
    assert BOOK_FLIGHT.name == "book_flight"


@pytest.mark.parametrize(
    ("given", "wire"),
    [
        ("seat", "reserve_seat"),
        ("Points", "deduct_loyalty_points"),
        ("LOYALTY", "deduct_loyalty_points"),
        ("process-payment", "process_payment"),
        (" booking ", "confirm_booking"),
    ],
)
def test_aliases(given: str, wire: str) -> None:
    assert canonical_step(given, "fail_at") == wire


def test_an_unknown_step_names_every_known_one() -> None:
    with pytest.raises(InvalidArgument) as info:
        canonical_step("hotel", "fail_at")
    assert "unknown step 'hotel' (known: reserve_seat, deduct_loyalty_points, " in str(info.value)
    assert "confirm_booking, seat, loyalty, points, payment, booking)" in str(info.value)


def test_the_registry_keeps_the_documented_ports_and_variables() -> None:
    got = {s.name: (s.package, s.default_port, s.env_var) for s in services.SERVICES}
    assert got == {
        "orchestrator": ("orchestrator", 50050, "ORCHESTRATOR_ADDR"),
        "seat": ("seat_service", 50051, "SEAT_SERVICE_ADDR"),
        "loyalty": ("loyalty_service", 50052, "LOYALTY_SERVICE_ADDR"),
        "payment": ("payment_service", 50053, "PAYMENT_SERVICE_ADDR"),
        "booking": ("booking_service", 50054, "BOOKING_SERVICE_ADDR"),
    }
    assert Addrs.from_base("h", 7000).as_dict() == {
        "orchestrator": "h:7000",
        "seat": "h:7001",
        "loyalty": "h:7002",
        "payment": "h:7003",
        "booking": "h:7004",
    }


async def test_the_engine_definition_follows_the_declaration() -> None:
    peers = Peers({}, token="")
    definition = from_declaration.build(BOOK_FLIGHT, peers, 2.0, RetryPolicy())
    assert definition.step_names == BOOK_FLIGHT.step_names
    assert definition.name == "book_flight" and definition.version == 1
    assert definition.summarize({}) == {"booking_reference": "", "transaction_id": ""}
    await peers.close()


def test_an_earlier_reply_is_rebuilt_typed_with_the_fields_later_steps_read() -> None:
    seat = BOOK_FLIGHT.steps[0]
    logged = {
        "reserve_seat": {
            "fare_cents": "45000",
            "currency": "USD",
            "seats": [{"flight_id": "FS101-20261201", "seat": "12A"}],
            "saga_id": "not read later",
        }
    }
    reply = from_declaration.typed_reply(logged, seat, seat.participant.do_reply())
    assert reply.fare_cents == 45000 and reply.currency == "USD"  # type: ignore[attr-defined]
    assert reply.seats[0].seat == "12A"  # type: ignore[attr-defined]
    assert not reply.saga_id  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "item",
    [
        {"flight_id": "FS101-20261201", "passenger_index": 1, "seat": "12A"},
        {"flight_id": "FS101-20261201", "passenger_index": "2", "unknown": [1]},
        {"seat": "3C", "passenger_index": None},
        {"flightId": "FS101-20261201", "seat": "3C"},  # a JSON name: ParseDict's own
    ],
)
def test_a_logged_item_is_rebuilt_as_json_format_parses_it(item: dict[str, Any]) -> None:
    fast, slow = common_pb2.SeatAssignment(), common_pb2.SeatAssignment()
    from_declaration._parse_flat(item, fast)
    json_format.ParseDict(item, slow, ignore_unknown_fields=True)
    assert fast == slow
