"""A second saga served by the same orchestrator: the trip example (examples/trip), registered by
SAGAS alone, started through StartSaga, beside the booking saga on one saga log.

Real gRPC servers on 127.0.0.1, on SQLite files and on PostgreSQL (`database_url`); the kill -9
test runs the orchestrator as an OS process.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import json_format

from examples.trip import CAR, HOTEL
from examples.trip import trip_pb2 as trip
from flightsaga.v1 import orchestrator_pb2 as pb
from tests.support.booking import book_request, first_flight
from tests.support.procs import ServiceProcess, free_port
from tests.support.stack import Stack, orchestrator_env, running_participants, running_stack

SAGAS = "sagas.booking,examples.trip"
CHECK_IN = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()


def trip_input(city: str = "LIS", car_class: str = "compact", nights: int = 3) -> dict[str, Any]:
    return {
        "guest": "Ada Lovelace",
        "city": city,
        "check_in": CHECK_IN,
        "nights": nights,
        "car_class": car_class,
    }


def start_request(
    given: dict[str, Any], wait: bool = True, saga: str = "trip", version: int = 0
) -> pb.StartSagaRequest:
    request = pb.StartSagaRequest(
        saga=saga, version=version, request_id=uuid.uuid4().hex, wait=wait
    )
    request.input.update(given)
    return request


async def stay_and_rental(stack: Stack, saga_id: str) -> tuple[trip.Stay, trip.Rental]:
    hotel = stack.peers.stub(HOTEL)
    car = stack.peers.stub(CAR)
    stay = await hotel.GetStay(trip.StayRequest(saga_id=saga_id), timeout=5)
    rental = await car.GetRental(trip.RentalRequest(saga_id=saga_id), timeout=5)
    return stay, rental


@pytest.fixture
async def stack(tmp_path: Path, database_url: Callable[[str], str]) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path, urls=database_url, SAGAS=SAGAS) as s:
        yield s


async def test_a_trip_completes_and_is_shown_like_a_booking(stack: Stack) -> None:
    saga = await stack.orchestrator.StartSaga(start_request(trip_input()), timeout=30)
    assert pb.SagaStatus.Name(saga.status) == "COMPLETED", saga.error
    assert (saga.saga, saga.saga_version) == ("trip", 1)
    assert [s.name for s in saga.steps] == ["book_room", "rent_car"]
    assert json_format.MessageToDict(saga.input)["city"] == "LIS"
    stay, rental = await stay_and_rental(stack, saga.saga_id)
    assert (stay.state, rental.state) == ("booked", "booked")
    assert rental.days == 3 and rental.city == "LIS"  # read from the room's reply
    facts = json_format.MessageToDict(saga.facts)
    assert facts["reservation_id"] == stay.reservation_id
    assert facts["rental_id"] == rental.rental_id
    assert int(facts["total_cents"]) == stay.price_cents + rental.price_cents
    # Listed, read and watched through the same RPCs as a booking.
    listed = await stack.orchestrator.ListSagas(pb.ListSagasRequest(), timeout=5)
    assert [(s.saga_id, s.saga) for s in listed.sagas] == [(saga.saga_id, "trip")]
    got = await stack.orchestrator.GetSaga(pb.GetSagaRequest(saga_id=saga.saga_id), timeout=5)
    assert got.facts == saga.facts
    events = [
        pb.SagaEventType.Name(e.type)
        async for e in stack.orchestrator.WatchSaga(pb.WatchSagaRequest(saga_id=saga.saga_id))
    ]
    assert events[0] == "SAGA_STARTED" and events[-1] == "SAGA_COMPLETED"


async def test_a_failed_car_compensates_the_room(stack: Stack) -> None:
    # No suv is left in PAR: rent_car fails for good, book_room is compensated.
    saga = await stack.orchestrator.StartSaga(start_request(trip_input("PAR", "suv")), timeout=30)
    assert pb.SagaStatus.Name(saga.status) == "COMPENSATED"
    assert list(saga.compensation_order) == ["book_room"]
    assert "no suv cars left in PAR" in saga.error
    stay, rental = await stay_and_rental(stack, saga.saga_id)
    assert (stay.state, rental.state) == ("cancelled", "")


async def test_an_injected_failure_names_the_trips_own_steps(stack: Stack) -> None:
    saga = await stack.orchestrator.StartSaga(
        start_request(trip_input()), metadata=(("x-fail-at", "car"),), timeout=30
    )
    assert pb.SagaStatus.Name(saga.status) == "COMPENSATED"
    assert saga.fault_plan == "rent_car:fail"
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stack.orchestrator.StartSaga(
            start_request(trip_input()), metadata=(("x-fail-at", "payment"),), timeout=10
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "unknown step 'payment'" in (refused.value.details() or "")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"saga": "cruise"}, "saga"),
        ({"version": 9}, "version"),
        ({"input": {"nights": 0}}, "input.nights"),
        ({"input": {"city": "Lisbon"}}, "input.city"),
        ({"input": {"hotel": "Ritz"}}, "input"),  # not a field of TripRequest
        ({"request_id": ""}, "request_id"),
    ],
)
async def test_bad_start_requests_name_the_field_and_start_nothing(
    stack: Stack, change: dict[str, Any], field: str
) -> None:
    request = start_request(trip_input())
    for key, value in change.items():
        if key == "input":
            request.input.update(value)
        else:
            setattr(request, key, value)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stack.orchestrator.StartSaga(request, timeout=10)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in (refused.value.details() or "")
    listed = await stack.orchestrator.ListSagas(pb.ListSagasRequest(), timeout=5)
    assert listed.total == 0


async def test_the_same_request_id_replays_and_another_input_is_refused(stack: Stack) -> None:
    first = start_request(trip_input())
    saga = await stack.orchestrator.StartSaga(first, timeout=30)
    again = await stack.orchestrator.StartSaga(first, timeout=30)
    assert again.saga_id == saga.saga_id and again.replayed
    other = start_request(trip_input("NYC"))
    other.request_id = first.request_id
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stack.orchestrator.StartSaga(other, timeout=10)
    assert refused.value.code() == grpc.StatusCode.ALREADY_EXISTS


async def test_saga_types_list_both_sagas(stack: Stack) -> None:
    found = await stack.orchestrator.ListSagaTypes(pb.ListSagaTypesRequest(), timeout=5)
    kinds = {(t.name, t.version): [s.name for s in t.steps] for t in found.sagas}
    assert kinds == {
        ("book_flight", 1): [
            "reserve_seat",
            "deduct_loyalty_points",
            "process_payment",
            "confirm_booking",
        ],
        ("trip", 1): ["book_room", "rent_car"],
    }
    assert all(t.latest for t in found.sagas)


async def test_both_sagas_at_once_on_one_log(stack: Stack) -> None:
    flight = await first_flight(stack, date=CHECK_IN)
    trips = [
        stack.orchestrator.StartSaga(
            start_request(trip_input(car_class="suv" if i % 3 == 0 else "economy")), timeout=60
        )
        for i in range(8)
    ]
    bookings = [
        stack.orchestrator.BookFlight(
            book_request([flight]),
            metadata=(("x-idempotency-key", f"both-{i}"),),
            timeout=60,
        )
        for i in range(8)
    ]
    done = await asyncio.gather(*trips, *bookings)
    assert all(pb.SagaStatus.Name(s.status) == "COMPLETED" for s in done), [
        (s.saga, s.error) for s in done if s.status != pb.COMPLETED
    ]
    assert [s.saga for s in done] == ["trip"] * 8 + ["book_flight"] * 8
    stats = await stack.orchestrator.GetStats(pb.GetStatsRequest(), timeout=5)
    assert (stats.total, stats.completed) == (16, 16)
    for saga in done[:8]:
        stay, rental = await stay_and_rental(stack, saga.saga_id)
        assert (stay.state, rental.state) == ("booked", "booked")


async def test_kill9_of_the_orchestrator_mid_trip_then_recovery(
    tmp_path: Path, database_url: Callable[[str], str]
) -> None:
    """Trips held inside a delayed step when the orchestrator is killed end, after a restart,
    as they would have: the completed ones booked once each, the failing ones compensated."""
    async with running_participants(tmp_path, database_url, sagas=SAGAS) as addrs:
        env = orchestrator_env(
            addrs,
            tmp_path,
            DATABASE_URL=database_url("orchestrator"),
            FAULT_INJECTION="enabled",
            SAGAS=SAGAS,
            STEP_TIMEOUT_MS="3000",  # the 1.5 s delays are answered, not timed out
        )
        port = free_port()
        orch = ServiceProcess("orchestrator", port, env, tmp_path / "orchestrator.log")
        orch.start()
        await orch.wait_healthy()
        stack = Stack(orch.addr, addrs, tmp_path, sagas=SAGAS)
        try:
            faults = [
                (("x-fault", "rent_car:delay=1500"),),
                # A failing Do is not delayed: these are held in book_room instead.
                (("x-fault", "book_room:delay=1500"), ("x-fail-at", "car")),
            ]
            started = [
                await stack.orchestrator.StartSaga(
                    start_request(trip_input(), wait=False), metadata=faults[i % 2], timeout=10
                )
                for i in range(6)
            ]
            await asyncio.sleep(0.6)  # inside a delayed Do
            live = await stack.orchestrator.GetStats(pb.GetStatsRequest(), timeout=5)
            assert live.running == 6
            orch.kill9()
            orch.start()
            await orch.wait_healthy()
            for i, saga in enumerate(started):
                final = await wait_terminal(stack, saga.saga_id)
                stay, rental = await stay_and_rental(stack, saga.saga_id)
                if i % 2 == 0:
                    assert pb.SagaStatus.Name(final.status) == "COMPLETED", final.error
                    assert (stay.state, rental.state) == ("booked", "booked")
                else:
                    assert pb.SagaStatus.Name(final.status) == "COMPENSATED", final.error
                    assert list(final.compensation_order) == ["book_room"]
                    assert (stay.state, rental.state) == ("cancelled", "")
            log = (tmp_path / "orchestrator.log").read_text()
            assert "Traceback" not in log
        finally:
            for channel in stack.channels:
                await channel.close()
            orch.stop()


async def wait_terminal(stack: Stack, saga_id: str) -> pb.Saga:
    for _ in range(300):
        saga = await stack.orchestrator.GetSaga(pb.GetSagaRequest(saga_id=saga_id), timeout=5)
        if pb.SagaStatus.Name(saga.status) in ("COMPLETED", "COMPENSATED", "FAILED"):
            return saga
        await asyncio.sleep(0.1)
    raise AssertionError(f"saga {saga_id} still live after 30 s")
