"""Orchestrator replicas as real OS processes on one PostgreSQL saga log, for the chaos tier.

Participants run as real servers in the test's process on PostgreSQL; each replica is a real
process (kill -9, SIGSTOP/SIGCONT) with its own ORCHESTRATOR_ID on the same saga log.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import grpc
import psycopg
import pytest

from flightsaga.v1 import loyalty_pb2, orchestrator_pb2_grpc
from flightsaga.v1 import orchestrator_pb2 as pb
from tests.support.booking import book_request, first_flight
from tests.support.dates import flight_date
from tests.support.procs import ServiceProcess, free_port
from tests.support.stack import Stack, orchestrator_env, running_participants

TTL = 3.0  # SAGA_LEASE_TTL_S here: short, so takeovers happen within a test's patience


class Replicas:
    """Orchestrator processes sharing one saga log, and a client of each."""

    def __init__(self, addrs: dict[str, str], data: Path, database: str) -> None:
        self.addrs, self.data, self.database = addrs, data, database
        self.procs: list[ServiceProcess] = []
        self.channels: list[grpc.aio.Channel] = []
        self.stubs: list[orchestrator_pb2_grpc.OrchestratorStub] = []

    async def start(self, count: int, **env: str) -> None:
        """`count` more replicas (named replica-<n>, counting on from those running)."""
        new: list[ServiceProcess] = []
        for _ in range(count):
            name = f"replica-{len(self.procs) + 1}"
            extra = {
                "DATABASE_URL": self.database,
                "FAULT_INJECTION": "enabled",
                "STEP_TIMEOUT_MS": "1500",
                "ORCHESTRATOR_ID": name,
                "PGAPPNAME": name,
                "SAGA_LEASE_TTL_S": str(TTL),
                "BOOKINGS_LOG": str(self.data / f"{name}-bookings.jsonl"),
                **env,
            }
            proc = ServiceProcess(
                "orchestrator",
                free_port(),
                orchestrator_env(self.addrs, self.data, **extra),
                self.data / f"{name}.log",
            )
            proc.start()
            self.procs.append(proc)
            new.append(proc)
        for proc in new:
            await proc.wait_healthy()
            channel = grpc.aio.insecure_channel(proc.addr)
            self.channels.append(channel)
            self.stubs.append(orchestrator_pb2_grpc.OrchestratorStub(channel))

    def log(self, i: int) -> str:
        return self.procs[i].log.read_text()

    async def close(self) -> None:
        for channel in self.channels:
            await channel.close()
        for proc in self.procs:
            if proc.proc is not None and proc.proc.poll() is None:
                proc.proc.send_signal(signal.SIGCONT)  # a test that failed mid-pause
            proc.stop()


@pytest.fixture
async def replicas(tmp_path: Path, pg_url: Callable[[str], str]) -> AsyncIterator[Replicas]:
    """Participants on PostgreSQL; replicas start in the test (`await replicas.start(n)`)."""
    async with running_participants(tmp_path, pg_url) as addrs:
        reps = Replicas(addrs, tmp_path, pg_url("orchestrator"))
        try:
            yield reps
        finally:
            await reps.close()


async def client(replicas: Replicas) -> Stack:
    """Clients of the participants (and of the first replica)."""
    return Stack(replicas.procs[0].addr, replicas.addrs, replicas.data)


async def wait_all_terminal(stub: orchestrator_pb2_grpc.OrchestratorStub, within: float) -> float:
    """Seconds until no saga is live, or fail after `within` seconds."""
    began = time.monotonic()
    while True:
        stats = await stub.GetStats(pb.GetStatsRequest(), timeout=5)
        if stats.running == 0 and stats.compensating == 0:
            return time.monotonic() - began
        if time.monotonic() - began > within:
            raise AssertionError(f"sagas still live after {within:.0f} s: {stats}")
        await asyncio.sleep(0.1)


def event_epochs(database: str) -> dict[str, list[int]]:
    """Each saga's events' lease epochs, in the order they were logged."""
    out: dict[str, list[int]] = {}
    with psycopg.connect(database) as conn:
        for saga_id, epoch in conn.execute(
            "SELECT saga_id, lease_epoch FROM saga_events ORDER BY saga_id, seq"
        ):
            out.setdefault(saga_id, []).append(epoch)
    return out


async def balance(stack: Stack) -> int:
    reply = await stack.loyalty.GetAccount(loyalty_pb2.GetAccountRequest(account_id="LOY-1004"))
    return int(reply.balance)


def assert_fenced(database: str) -> None:
    """No saga has an event logged under an older lease after one logged under a newer: a
    replica that lost a lease wrote nothing more for that saga."""
    for saga_id, epochs in event_epochs(database).items():
        assert epochs == sorted(epochs), (saga_id, epochs)


async def start_sagas(
    replicas: Replicas, stack: Stack, count: int, prefix: str, faults: list[dict[str, str]]
) -> dict[str, int]:
    """`count` sagas spread over the replicas (StartBooking: logged before it answers);
    returns the points each spends, by idempotency key."""
    rng = random.Random(count)
    flights = [await first_flight(stack, date=d) for d in (flight_date(2), flight_date(3))]
    points: dict[str, int] = {}

    async def launch(i: int) -> None:
        key = f"{prefix}-{i}"
        points[key] = rng.choice([0, 100, 250])
        req = book_request([flights[i % 2]], customer="LOY-1004", points=points[key])
        stub = replicas.stubs[i % len(replicas.stubs)]
        await stub.StartBooking(
            pb.StartBookingRequest(request_id=key, booking=req),
            metadata=tuple(faults[i % len(faults)].items()),
            timeout=20,
        )

    await asyncio.gather(*(launch(i) for i in range(count)))
    return points


def live_owned_by(database: str, owner: str) -> int:
    with psycopg.connect(database) as conn:
        row = conn.execute(
            "SELECT COUNT(*) FROM saga_leases l JOIN sagas s USING (saga_id)"
            " WHERE l.owner = %s AND s.status IN ('RUNNING', 'COMPENSATING')",
            (owner,),
        ).fetchone()
    return int(row[0]) if row else 0


async def all_sagas(stub: orchestrator_pb2_grpc.OrchestratorStub) -> list[pb.Saga]:
    listed = await stub.ListSagas(pb.ListSagasRequest(page_size=200), timeout=10)
    return list(listed.sagas)
