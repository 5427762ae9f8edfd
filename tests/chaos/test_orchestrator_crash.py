"""kill -9 of the orchestrator with 50 sagas in flight; a restart finishes every one of them.

Participants run as real servers in this process; the orchestrator is a real OS process that
is SIGKILLed mid-flight and restarted on the same saga log. Afterwards every saga is terminal
and the participants' own records agree with each saga's outcome.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import grpc
import pytest

from flightsaga.v1 import loyalty_pb2, orchestrator_pb2_grpc
from flightsaga.v1 import orchestrator_pb2 as pb
from tests.support.booking import MIXED_FAULTS, book_request, check_records, first_flight
from tests.support.dates import flight_date
from tests.support.procs import ServiceProcess, free_port
from tests.support.stack import Stack, orchestrator_env, running_participants

pytestmark = pytest.mark.chaos

SAGAS = 50
FAULTS = MIXED_FAULTS


@pytest.fixture
async def participants(
    tmp_path: Path, database_url: Callable[[str], str]
) -> AsyncIterator[dict[str, str]]:
    """On SQLite files and on a PostgreSQL server: the test runs on both backends."""
    async with running_participants(tmp_path, database_url) as addrs:
        yield addrs


def orchestrator_process(
    addrs: dict[str, str], data: Path, port: int, database: str
) -> ServiceProcess:
    env = orchestrator_env(
        addrs,
        data,
        DATABASE_URL=database,
        FAULT_INJECTION="enabled",
        STEP_TIMEOUT_MS="500",
    )
    return ServiceProcess("orchestrator", port, env, data / "orchestrator.log")


async def wait_all_terminal(stub: orchestrator_pb2_grpc.OrchestratorStub) -> pb.Stats:
    for _ in range(600):
        stats = await stub.GetStats(pb.GetStatsRequest(), timeout=5)
        if stats.running == 0 and stats.compensating == 0:
            return stats
        await asyncio.sleep(0.1)
    raise AssertionError(f"sagas still live after 60 s: {stats}")


async def test_kill9_with_50_sagas_in_flight_then_restart_finishes_all(
    tmp_path: Path, participants: dict[str, str], database_url: Callable[[str], str]
) -> None:
    rng = random.Random(7)
    port = free_port()
    orch = orchestrator_process(participants, tmp_path, port, database_url("orchestrator"))
    orch.start()
    await orch.wait_healthy()
    channel = grpc.aio.insecure_channel(orch.addr)
    stack = Stack(orch.addr, participants, tmp_path)
    try:
        flights = [await first_flight(stack, date=d) for d in (flight_date(2), flight_date(3))]
        start_balance = (
            await stack.loyalty.GetAccount(loyalty_pb2.GetAccountRequest(account_id="LOY-1004"))
        ).balance
        points = {}

        async def launch(i: int) -> None:
            md = tuple(FAULTS[i % len(FAULTS)].items())
            pts = rng.choice([0, 100, 250])
            req = book_request([flights[i % 2]], customer="LOY-1004", points=pts)
            points[f"crash-{i}"] = pts
            # StartBooking answers once the saga is logged, and it goes on: every one of the 50
            # is in the log at the kill. (A BookFlight cut off by a short deadline before its
            # saga was logged starts nothing, so how many existed depended on the machine's
            # speed.)
            await stack.orchestrator.StartBooking(
                pb.StartBookingRequest(request_id=f"crash-{i}", booking=req),
                metadata=md,
                timeout=30,
            )

        await asyncio.gather(*(launch(i) for i in range(SAGAS)))
        before = await stack.orchestrator.GetStats(pb.GetStatsRequest(), timeout=5)
        assert before.running + before.compensating > 0, "nothing was in flight at the kill"
        orch.kill9()

        orch.start()  # same saga log, same port
        await orch.wait_healthy()
        stats = await wait_all_terminal(stack.orchestrator)
        assert stats.total == SAGAS
        assert stats.failed == 0

        listed = await stack.orchestrator.ListSagas(pb.ListSagasRequest(page_size=200), timeout=5)
        spent = await check_records(stack, list(listed.sagas), points)
        end_balance = (
            await stack.loyalty.GetAccount(loyalty_pb2.GetAccountRequest(account_id="LOY-1004"))
        ).balance
        assert end_balance == start_balance - spent
        log = (tmp_path / "orchestrator.log").read_text()
        assert "[SAGA] recovering" in log
        # The bookings log has every finished saga exactly once, kill or not.
        lines = (tmp_path / "bookings.jsonl").read_text().splitlines()
        logged = sorted(json.loads(line)["saga_id"] for line in lines)
        assert logged == sorted(s.saga_id for s in listed.sagas)
    finally:
        await channel.close()
        for ch in stack.channels:
            await ch.close()
        orch.stop()
