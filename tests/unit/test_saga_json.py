"""The bookings log's line (convert.saga_json_line) is the Saga message's proto3 JSON."""

from __future__ import annotations

import json

import pytest

from flightsaga.v1 import common_pb2
from flightsaga.v1 import orchestrator_pb2 as pb
from orchestrator.booking_saga import BookingDoor
from orchestrator.convert import saga_json, saga_json_line, saga_to_proto
from orchestrator.engine.model import SagaRecord, SagaStatus, StepRecord, StepState
from sagakit.plainjson import plain
from sagas.booking import BOOK_FLIGHT
from sagas.peers import Peers

DOOR = BookingDoor((BOOK_FLIGHT,), Peers({}), step_timeout=1.0)

REQUEST = pb.BookFlightRequest(
    customer_id="LOY-1001",
    flight_ids=["FS101-20261201", "FS102-20261205"],
    passengers=[common_pb2.Passenger(first_name="Ada", last_name="Lovelace")],
    cabin_class=common_pb2.ECONOMY,
    loyalty_points=1000,
    card=common_pb2.Card(
        number="4242 4242 4242 4242", exp_month=12, exp_year=2031, cvc="123", holder_name="Ada"
    ),
    seat_selections=[common_pb2.SeatSelection(flight_id="FS101-20261201", seat="12A")],
)

SEATS = {
    "saga_id": "s1",
    "assignments": [
        {"flight_id": "FS101-20261201", "passenger_index": 0, "seat": "12A"},
        {"flight_id": "FS102-20261205", "passenger_index": 0, "seat": "3C"},
    ],
    "fare_cents": "45900",
    "currency": "USD",
    "held": True,
    "ratio": 0.25,
    "big": 10**17,
    "nothing": None,
}


def _saga(status: SagaStatus) -> SagaRecord:
    t0 = "2026-11-26T08:15:30.123456+00:00"
    steps = [
        StepRecord(
            "reserve_seat",
            1,
            StepState.SUCCEEDED,
            attempts=2,
            started_at=t0,
            finished_at="2026-11-26T08:15:31.120000+00:00",
            result=SEATS,
        ),
        StepRecord(
            "deduct_loyalty_points",
            2,
            StepState.SUCCEEDED,
            attempts=1,
            started_at="2026-11-26T08:15:31.000000+00:00",
            finished_at="2026-11-26T08:15:31.000001+00:00",
            result={"points_deducted": "1000", "balance": "249000"},
        ),
        StepRecord(
            "process_payment",
            3,
            StepState.SUCCEEDED,
            attempts=1,
            started_at="2026-11-26T09:15:31.5+01:00",  # not the log's own format
            finished_at="2026-11-26T08:15:32.600000+00:00",
            result={"transaction_id": "txn_1", "amount_cents": "44900", "empty": {}},
        ),
        StepRecord("confirm_booking", 4, StepState.PENDING),
    ]
    saga = SagaRecord(
        saga_id="s1",
        definition="book_flight",
        correlation_id="cid-1",
        payload=REQUEST.SerializeToString(),
        steps=steps,
        status=status,
        created_at=t0,
        updated_at="2026-11-26T08:15:33.000000+00:00",
    )
    if status == SagaStatus.COMPLETED:
        steps[3].state = StepState.SUCCEEDED
        steps[3].attempts = 1
        steps[3].started_at = "2026-11-26T08:15:32.700000+00:00"
        steps[3].finished_at = "2026-11-26T08:15:32.800000+00:00"
        steps[3].result = {"booking_reference": "K7QX2M", "status": "CONFIRMED"}
        saga.finished_at = "2026-11-26T08:15:33.000000+00:00"
    else:
        steps[3].state = StepState.STEP_FAILED
        steps[3].attempts = 3
        steps[3].error = "ABORTED: injected failure"
        steps[3].started_at = "2026-11-26T08:15:32.700000+00:00"
        steps[3].finished_at = "2026-11-26T08:15:32.800000+00:00"
        saga.error = "confirm_booking failed: ABORTED: injected failure"
        saga.options = "confirm_booking:fail"
        saga.idempotency_key = "key-1"
        for st in reversed(steps[:3]):
            st.state = StepState.COMPENSATED_STEP
            st.compensation_attempts = 1
            st.compensation_started_at = "2026-11-26T08:15:32.900000+00:00"
            st.compensated_at = "2026-11-26T08:15:32.950000+00:00"
            st.compensation_result = {"saga_id": "s1", "null_compensation": False}
            saga.compensation_order.append(st.name)
        if status == SagaStatus.FAILED:
            steps[0].state = StepState.COMPENSATION_FAILED
            steps[0].compensation_error = "UNAVAILABLE: down"
            steps[0].compensation_result = None
            saga.compensation_order.pop()
        saga.finished_at = "2026-11-26T08:15:33.000000+00:00"
    return saga


@pytest.mark.parametrize(
    "status", [SagaStatus.COMPLETED, SagaStatus.COMPENSATED, SagaStatus.FAILED]
)
def test_the_line_is_the_saga_messages_json(status: SagaStatus) -> None:
    saga = _saga(status)
    expected = plain(saga_to_proto(saga, DOOR))
    assert expected.pop("saga") == "book_flight" and expected.pop("saga_version") == 1
    line = saga_json_line(saga, DOOR)
    assert "\n" not in line
    # The API's message names the saga; the bookings log keeps its earlier format.
    assert json.loads(line) == expected


def test_every_number_is_a_number_of_one_type() -> None:
    """No "101200" for an amount, no 14.0 for a count: a number keeps its type."""
    line = json.loads(saga_json_line(_saga(SagaStatus.COMPLETED), DOOR))
    assert isinstance(line["fare_cents"], int) and isinstance(line["amount_charged_cents"], int)

    def numbers(value: object) -> list[object]:
        if isinstance(value, dict):
            return [n for v in value.values() for n in numbers(v)]
        if isinstance(value, list):
            return [n for v in value for n in numbers(v)]
        return [value] if isinstance(value, int | float) and not isinstance(value, bool) else []

    def whole_floats(value: object) -> list[object]:
        return [n for n in numbers(value) if isinstance(n, float) and n.is_integer()]

    assert numbers(line) and whole_floats(line) == []
    # The same through the message (what the CLI's --json and the dashboard print).
    via_message = plain(saga_to_proto(_saga(SagaStatus.COMPLETED), DOOR))
    assert whole_floats(via_message) == [] and isinstance(via_message["fare_cents"], int)


def test_a_running_saga_and_a_replay_too() -> None:
    saga = _saga(SagaStatus.COMPLETED)
    saga.status = SagaStatus.RUNNING
    saga.finished_at = None
    expected = plain(saga_to_proto(saga, DOOR, replayed=True))
    assert json.loads(json.dumps(saga_json(saga, DOOR, replayed=True))) == expected


def test_a_step_result_keeps_the_participants_order() -> None:
    """The message's Struct would print its keys in hash order; the log keeps the reply's."""
    line = json.loads(saga_json_line(_saga(SagaStatus.COMPLETED), DOOR))
    assert list(line["steps"][0]["result"]) == list(SEATS)
