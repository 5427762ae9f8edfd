"""The Python client library (`orchestrator.client`) against the running stack."""

from __future__ import annotations

import uuid

import pytest

from flightsaga.v1 import orchestrator_pb2 as pb
from orchestrator.client import OrchestratorClient, booking
from tests.e2e.tools import ROUTE, STEPS, Stack

pytestmark = pytest.mark.e2e


def status(saga: pb.Saga) -> str:
    return pb.SagaStatus.Name(saga.status)


async def first_flight(fs: OrchestratorClient) -> str:
    found = await fs.search_flights(*ROUTE)
    assert found.outbound, f"no flights on {ROUTE}"
    return found.outbound[0].flight_id


async def test_book_then_watch_and_get(stack: Stack) -> None:
    async with OrchestratorClient(stack.orchestrator, stack.seat, timeout=30) as fs:
        flight = await first_flight(fs)
        cid = f"e2e-client-{uuid.uuid4().hex[:12]}"
        saga = await fs.book(
            booking([flight], passengers=[("Grace", "Hopper")], points=300), correlation_id=cid
        )
        assert status(saga) == "COMPLETED", saga
        assert saga.correlation_id == cid
        assert len(saga.booking_reference) == 6
        assert [s.name for s in saga.steps] == list(STEPS)
        # A Struct keeps numbers as doubles; every JSON output prints them as integers.
        assert saga.steps[1].result["points_deducted"] == 300
        assert saga.amount_charged_cents == saga.fare_cents - 300

        events = [e async for e in fs.watch(saga.saga_id)]
        kinds = [pb.SagaEventType.Name(e.type) for e in events]
        assert kinds[0] == "SAGA_STARTED" and kinds[-1] == "SAGA_COMPLETED"
        succeeded = [e.step for e, k in zip(events, kinds, strict=True) if k == "STEP_SUCCEEDED"]
        assert succeeded == list(STEPS)
        assert [e.seq for e in events] == list(range(1, len(events) + 1))

        got = await fs.get(saga.saga_id)
        assert got.booking_reference == saga.booking_reference


async def test_same_idempotency_key_replays_the_same_saga(stack: Stack) -> None:
    key = f"e2e-idem-{uuid.uuid4().hex}"
    async with OrchestratorClient(stack.orchestrator, stack.seat, timeout=30) as fs:
        request = booking([await first_flight(fs)])
        first = await fs.book(request, idempotency_key=key)
        again = await fs.book(request, idempotency_key=key)
    assert status(first) == "COMPLETED" and not first.replayed
    assert again.replayed and again.saga_id == first.saga_id
    assert again.booking_reference == first.booking_reference


async def test_failed_saga_is_resumed_by_the_operator(stack: Stack) -> None:
    """Fail at booking while the loyalty refund always fails -> FAILED; resume clears the fault."""
    async with OrchestratorClient(stack.orchestrator, stack.seat, timeout=60) as fs:
        saga = await fs.book(
            booking([await first_flight(fs)], points=200),
            fail_at=["booking"],
            fault="loyalty:compensate-fail=always",
        )
        assert status(saga) == "FAILED", saga
        assert list(saga.compensation_order) == ["process_payment"]
        loyalty = saga.steps[1]
        assert pb.StepState.Name(loyalty.state) == "COMPENSATION_FAILED"
        assert "injected failure" in loyalty.compensation_error

        failed = await fs.list("failed", page_size=200)
        assert saga.saga_id in [s.saga_id for s in failed.sagas]
        assert (await fs.stats()).failed >= 1

        resumed = await fs.resume(saga.saga_id, clear_faults=True)
        assert status(resumed) == "COMPENSATED", resumed
        assert list(resumed.compensation_order) == [
            "process_payment",
            "deduct_loyalty_points",
            "reserve_seat",
        ]
        assert not resumed.fault_plan
        # It now says why it was compensated, not that it needs an operator.
        assert resumed.error.startswith("confirm_booking failed"), resumed.error
        assert "needs an operator" not in resumed.error
        failed = await fs.list("failed", page_size=200)
        assert saga.saga_id not in [s.saga_id for s in failed.sagas]

        events = [pb.SagaEventType.Name(e.type) async for e in fs.watch(saga.saga_id)]
        assert "SAGA_FAILED" in events and "SAGA_RESUMED" in events
        assert events[-1] == "SAGA_COMPENSATED"
