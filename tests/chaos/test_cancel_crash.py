"""kill -9 of the orchestrator between a cancel and the end of the compensation it started: the
saga still ends COMPENSATED, once.

The orchestrator runs as a real OS process (participants in this process): one on a SQLite
saga log, restarted on it; and two replicas on one PostgreSQL saga log, the cancel sent to the
one not driving the saga and the driving one killed, so the other takes the saga over.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from flightsaga.v1 import orchestrator_pb2 as pb
from flightsaga.v1 import orchestrator_pb2_grpc
from flightsaga.v1.common_pb2 import SagaRecordsRequest
from tests.support.booking import proof
from tests.support.cancel import (
    HOLD_MS,
    events,
    kinds,
    late_do_refused,
    paying,
    start_held,
    status,
    wait_for,
)
from tests.support.procs import ServiceProcess, free_port
from tests.support.replicas import Replicas, assert_fenced, client, replicas
from tests.support.stack import Stack, orchestrator_env, running_participants

pytestmark = pytest.mark.chaos

__all__ = ["replicas"]  # the fixture, used by the PostgreSQL test

# Long step deadlines (the held payment is one attempt in flight) and compensations retried
# long enough; the seat's compensation fails 5 times (about 1.5-3 s of backoff): the window
# in which the orchestrator is killed.
ENV = {"STEP_TIMEOUT_MS": "10000", "COMPENSATION_MAX_ATTEMPTS": "7", "FAULT_INJECTION": "enabled"}
LINGER = {"x-fault": f"payment:delay={HOLD_MS},seat:compensate-fail=5"}


def compensating_seat(saga: pb.Saga) -> bool:
    """Cancelled, and retrying the last compensation (the seat's)."""
    return status(saga) == "COMPENSATING" and saga.steps[0].compensation_attempts >= 1


async def start_cancelled(
    stack: Stack,
    driver: orchestrator_pb2_grpc.OrchestratorStub,
    other: orchestrator_pb2_grpc.OrchestratorStub,
) -> str:
    """A saga started on `driver`, held in its payment, cancelled through `other`."""
    started = await start_held(stack, "crash-cancel", stub=driver, extra=LINGER)
    await wait_for(driver, started.saga_id, paying)
    request = pb.CancelSagaRequest(saga_id=started.saga_id, reason="kill test")
    answered = await other.CancelSaga(request, timeout=10)
    assert answered.cancelled_by == "anonymous"
    return started.saga_id


async def check_compensated_once(
    stack: Stack, stub: orchestrator_pb2_grpc.OrchestratorStub, saga_id: str, late: bool
) -> None:
    """`late`: the payment was compensated before its held Do reached the payment service."""
    saga = await wait_for(stub, saga_id, lambda s: s.HasField("finished_at"), within=60)
    assert status(saga) == "COMPENSATED", saga
    assert saga.error == "cancelled by anonymous: kill test"
    found = kinds(await events(stub, saga_id))
    assert found.count("SAGA_CANCELLED") == 1
    assert found.count("SAGA_COMPENSATED") == 1 and found[-1] == "SAGA_COMPENSATED"
    assert "SAGA_COMPLETED" not in found
    moves = await stack.loyalty.GetMovements(SagaRecordsRequest(saga_id=saga_id))
    assert len(moves.movements) == 2  # deducted once, refunded once
    await asyncio.sleep(HOLD_MS / 1000 + 0.5)  # the held Do has reached the payment service
    p = await proof(stack, saga_id)
    assert (p.seats_held, p.points_delta, p.booking_status) == (0, 0, "")
    # Either the held Do ran first and its charge was refunded once, or it came after the
    # compensation and was refused: which one depends on how long the restart took.
    assert p.charges <= 1 and p.refunds == p.charges
    assert p.charged_cents == p.refunded_cents
    if late or p.charges == 0:
        assert await late_do_refused(stack, saga_id)


@pytest.fixture
async def participants(tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    async with running_participants(tmp_path) as addrs:
        yield addrs


@pytest.mark.parametrize("when", ["at_once", "mid_compensation"])
async def test_kill9_between_cancel_and_compensated_on_sqlite_ends_compensated_once(
    tmp_path: Path, participants: dict[str, str], when: str
) -> None:
    database = f"sqlite:///{tmp_path / 'orchestrator.db'}"
    env = orchestrator_env(participants, tmp_path, DATABASE_URL=database, **ENV)
    orch = ServiceProcess("orchestrator", free_port(), env, tmp_path / "orchestrator.log")
    orch.start()
    stack = Stack(orch.addr, participants, tmp_path)
    try:
        await orch.wait_healthy()
        stub = stack.orchestrator
        saga_id = await start_cancelled(stack, stub, stub)
        if when == "mid_compensation":
            await wait_for(stub, saga_id, compensating_seat)
        orch.kill9()
        orch.start()
        await orch.wait_healthy()
        await check_compensated_once(stack, stub, saga_id, late=when == "mid_compensation")
        log = orch.log.read_text()
        if when == "mid_compensation":
            assert "[SAGA] cancelled by anonymous: kill test; compensating" in log
        # At once, the kill may come before the driver has even seen the cancel (the RPC
        # answers once the cancel is durable): the restarted process then compensates it
        # without that line, and says why when it is done.
        assert "): cancelled by anonymous: kill test" in log
        assert "[SAGA] recovering" in log
        lines = (tmp_path / "bookings.jsonl").read_text().splitlines()
        assert [json.loads(line)["saga_id"] for line in lines] == [saga_id]
        assert json.loads(lines[0])["cancelled_by"] == "anonymous"
    finally:
        for channel in stack.channels:
            await channel.close()
        orch.stop()


@pytest.mark.postgres
async def test_cancel_through_another_replica_then_kill9_of_the_driver_ends_compensated_once(
    replicas: Replicas,
) -> None:
    await replicas.start(2, **ENV)
    stack = await client(replicas)
    driver, other = replicas.stubs
    try:
        saga_id = await start_cancelled(stack, driver, other)
        # The driving replica hears of the cancel from the log and starts compensating.
        await wait_for(other, saga_id, compensating_seat)
        replicas.procs[0].kill9()
        await check_compensated_once(stack, other, saga_id, late=True)
        assert "[SAGA] cancel requested by anonymous: kill test" in replicas.log(1)
        assert "[SAGA] cancelled by anonymous: kill test; compensating" in replicas.log(0)
        assert "taking over" in replicas.log(1)
        assert_fenced(replicas.database)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await driver.GetSaga(pb.GetSagaRequest(saga_id=saga_id), timeout=1)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE  # it was killed indeed
    finally:
        for channel in stack.channels:
            await channel.close()
