"""Holding a saga in flight, and following it to its end, for the CancelSaga tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from flightsaga.v1 import orchestrator_pb2 as pb
from flightsaga.v1 import orchestrator_pb2_grpc
from flightsaga.v1.common_pb2 import SagaRecordsRequest
from tests.support.booking import book_request, first_flight
from tests.support.stack import Stack

# The payment Do is held this long at the payment service (the step deadline is longer), so the
# saga waits on it: a step in flight. Once its caller has gone the Do still runs, late.
HOLD_MS = 3000
HELD = {"x-fault": f"payment:delay={HOLD_MS}"}
Metadata = tuple[tuple[str, str], ...]


async def start_held(
    stack: Stack,
    key: str,
    stub: orchestrator_pb2_grpc.OrchestratorStub | None = None,
    metadata: Metadata = (),
    extra: dict[str, str] | None = None,
) -> pb.Saga:
    """A booking whose payment step is held in flight (answered at once: StartBooking)."""
    flight = await first_flight(stack)
    req = pb.StartBookingRequest(request_id=key, booking=book_request([flight], points=1200))
    faults = {**HELD, **(extra or {})}
    return await (stub or stack.orchestrator).StartBooking(
        req, metadata=(*metadata, *faults.items()), timeout=20
    )


async def wait_for(
    stub: orchestrator_pb2_grpc.OrchestratorStub,
    saga_id: str,
    done: Callable[[pb.Saga], bool],
    metadata: Metadata = (),
    within: float = 30.0,
) -> pb.Saga:
    """GetSaga until `done(saga)` holds (a callable), or fail after `within` seconds."""
    end = time.monotonic() + within
    while True:
        saga = await stub.GetSaga(pb.GetSagaRequest(saga_id=saga_id), metadata=metadata, timeout=5)
        if done(saga):
            return saga
        if time.monotonic() > end:
            raise AssertionError(f"saga not there after {within:.0f} s: {saga}")
        await asyncio.sleep(0.05)


def step_state(saga: pb.Saga, index: int) -> str:
    return pb.StepState.Name(saga.steps[index].state)


def status(saga: pb.Saga) -> str:
    return pb.SagaStatus.Name(saga.status)


def paying(saga: pb.Saga) -> bool:
    """Its payment Do is in flight."""
    return step_state(saga, 2) == "EXECUTING"


async def events(
    stub: orchestrator_pb2_grpc.OrchestratorStub, saga_id: str, metadata: Metadata = ()
) -> list[pb.SagaEvent]:
    """Every event of the saga, to its end (WatchSaga ends at a terminal state)."""
    stream = stub.WatchSaga(pb.WatchSagaRequest(saga_id=saga_id), metadata=metadata, timeout=60)
    return [e async for e in stream]


def kinds(found: list[pb.SagaEvent]) -> list[str]:
    return [pb.SagaEventType.Name(e.type) for e in found]


async def late_do_refused(stack: Stack, saga_id: str) -> bool:
    """The payment service's own records: the Do never took effect, its step was compensated."""
    records = await stack.payment.GetPayments(SagaRecordsRequest(saga_id=saga_id))
    mark = next((m for m in records.barrier if m.step == "process_payment"), None)
    return not records.entries and mark is not None and mark.compensated and not mark.do_done
