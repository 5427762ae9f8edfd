"""An orchestrator outage longer than the saga deadline must not lose a compensation.

The chaos campaign's hole: a step whose `Do` was in flight (delayed, under the step deadline)
when the orchestrator was killed during its first attempt; the participant committed it; the
orchestrator came back after the saga deadline and recorded the step as "did not run", so it was
never compensated (money kept for a COMPENSATED saga). Every step with a logged intent and no
definitive answer must be compensated.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from flightsaga.v1 import loyalty_pb2
from flightsaga.v1 import orchestrator_pb2 as pb
from tests.support.booking import book_request, first_flight, proof
from tests.support.procs import ServiceProcess, free_port
from tests.support.stack import Stack, orchestrator_env, running_participants

pytestmark = pytest.mark.chaos

SAGA_DEADLINE_S = 2.0
DELAY_MS = 1500  # under the 3 s step deadline: the Do would have succeeded


@pytest.fixture
async def participants(tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    async with running_participants(tmp_path) as addrs:
        yield addrs


def orchestrator_process(tmp_path: Path, participants: dict[str, str]) -> ServiceProcess:
    env = orchestrator_env(
        participants,
        tmp_path,
        DATABASE_URL=f"sqlite:///{tmp_path / 'orchestrator.db'}",
        FAULT_INJECTION="enabled",
        STEP_TIMEOUT_MS="3000",
        SAGA_TIMEOUT_S=str(SAGA_DEADLINE_S),
    )
    return ServiceProcess("orchestrator", free_port(), env, tmp_path / "orchestrator.log")


async def book_then_kill_past_deadline(
    stack: Stack, orch: ServiceProcess, req: pb.BookFlightRequest, md: tuple[tuple[str, str], ...]
) -> pb.Saga:
    """BookFlight answered early (the saga goes on; earlier steps take a few ms, so the delayed
    Do is in flight at the participant), kill -9 the orchestrator, let the participant commit
    the delayed Do with nobody listening and the saga deadline pass, restart."""
    saga = await stack.orchestrator.BookFlight(req, metadata=md, timeout=0.6)
    assert pb.SagaStatus.Name(saga.status) == "RUNNING"
    orch.kill9()
    await asyncio.sleep(DELAY_MS / 1000 + SAGA_DEADLINE_S)
    orch.start()
    await orch.wait_healthy()
    return saga


async def wait_terminal(stack: Stack, saga_id: str, within: float = 30.0) -> pb.Saga:
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while True:
        saga = await stack.orchestrator.GetSaga(pb.GetSagaRequest(saga_id=saga_id), timeout=5)
        if pb.SagaStatus.Name(saga.status) in ("COMPLETED", "COMPENSATED", "FAILED"):
            return saga
        assert loop.time() < end, f"saga still {pb.SagaStatus.Name(saga.status)}"
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("step", ["seat", "loyalty", "payment", "booking"])
async def test_step_committed_during_outage_past_saga_deadline_is_compensated(
    tmp_path: Path, participants: dict[str, str], step: str
) -> None:
    orch = orchestrator_process(tmp_path, participants)
    orch.start()
    await orch.wait_healthy()
    stack = Stack(orch.addr, participants, tmp_path)
    try:
        flight = await first_flight(stack)
        before = await stack.loyalty.GetAccount(
            loyalty_pb2.GetAccountRequest(account_id="LOY-1002")
        )
        req = book_request([flight], customer="LOY-1002", points=300)
        md = (("x-fault", f"{step}:delay={DELAY_MS}"), ("x-idempotency-key", f"outage-{step}"))
        saga = await book_then_kill_past_deadline(stack, orch, req, md)
        final = await wait_terminal(stack, saga.saga_id)

        assert pb.SagaStatus.Name(final.status) == "COMPENSATED", final.error
        p = await proof(stack, saga.saga_id)
        assert p.seats_held == 0
        assert p.points_delta == 0
        assert p.charged_cents == p.refunded_cents
        assert p.booking_status in ("", "CANCELLED")
        after = await stack.loyalty.GetAccount(loyalty_pb2.GetAccountRequest(account_id="LOY-1002"))
        assert after.balance == before.balance
        # The step in flight at the kill is compensated: it may have run.
        delayed = next(s for s in final.steps if s.name.startswith(_canonical(step)))
        assert delayed.name in final.compensation_order
        assert pb.StepState.Name(delayed.state) == "COMPENSATED_STEP"
    finally:
        for ch in stack.channels:
            await ch.close()
        orch.stop()


def _canonical(alias: str) -> str:
    return {"seat": "reserve", "loyalty": "deduct", "payment": "process", "booking": "confirm"}[
        alias
    ]


async def test_kill_with_no_client_waiting_still_reported_after_restart(
    tmp_path: Path, participants: dict[str, str]
) -> None:
    """Sanity: the bookings log has one line per terminal saga across the outage too."""
    orch = orchestrator_process(tmp_path, participants)
    orch.start()
    await orch.wait_healthy()
    stack = Stack(orch.addr, participants, tmp_path)
    try:
        flight = await first_flight(stack)
        md = (("x-fault", f"payment:delay={DELAY_MS}"),)
        saga = await book_then_kill_past_deadline(stack, orch, book_request([flight]), md)
        await wait_terminal(stack, saga.saga_id)
        lines = (tmp_path / "bookings.jsonl").read_text().splitlines()
        assert sum(saga.saga_id in line for line in lines) == 1
    finally:
        for ch in stack.channels:
            await ch.close()
        orch.stop()
