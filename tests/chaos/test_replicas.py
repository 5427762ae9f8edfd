"""Several orchestrator replicas on one PostgreSQL saga log: takeover, fencing, any replica
answers for any saga.

Participants run as real servers in this process on PostgreSQL; each orchestrator replica is a
real OS process (kill -9, SIGSTOP/SIGCONT) with its own ORCHESTRATOR_ID on the same saga log.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
from collections.abc import AsyncIterator, Callable
from contextlib import suppress
from pathlib import Path

import grpc
import psycopg
import pytest

from flightsaga.v1 import loyalty_pb2, orchestrator_pb2_grpc
from flightsaga.v1 import orchestrator_pb2 as pb
from tests.support.booking import MIXED_FAULTS, book_request, check_records, first_flight
from tests.support.procs import ServiceProcess, free_port
from tests.support.stack import Stack, orchestrator_env, running_participants

pytestmark = [pytest.mark.chaos, pytest.mark.postgres]

TTL = 3.0  # SAGA_LEASE_TTL_S here: short, so takeovers happen within a test's patience
FAULTS = MIXED_FAULTS


class Replicas:
    """Orchestrator processes sharing one saga log, and a client of each."""

    def __init__(self, addrs: dict[str, str], data: Path, database: str) -> None:
        self.addrs, self.data, self.database = addrs, data, database
        self.procs: list[ServiceProcess] = []
        self.channels: list[grpc.aio.Channel] = []
        self.stubs: list[orchestrator_pb2_grpc.OrchestratorStub] = []

    async def start(self, count: int, **env: str) -> None:
        for i in range(count):
            name = f"replica-{i + 1}"
            extra = {
                "DATABASE_URL": self.database,
                "FAULT_INJECTION": "enabled",
                "STEP_TIMEOUT_MS": "1500",
                "ORCHESTRATOR_ID": name,
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
        for proc in self.procs:
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
    flights = [await first_flight(stack, date=d) for d in ("2026-12-02", "2026-12-03")]
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


async def test_kill9_one_of_three_replicas_the_survivors_finish_its_sagas(
    replicas: Replicas,
) -> None:
    await replicas.start(3)
    stack = await client(replicas)
    before = await balance(stack)
    points = await start_sagas(replicas, stack, 100, "ha", FAULTS)
    owned = live_owned_by(replicas.database, "replica-1")
    assert owned > 0, "replica-1 drove nothing at the kill"
    replicas.procs[0].kill9()

    took = await wait_all_terminal(replicas.stubs[1], within=60)
    sagas = await all_sagas(replicas.stubs[2])
    assert len(sagas) == 100
    assert not [s.saga_id for s in sagas if s.status == pb.FAILED]
    spent = await check_records(stack, sagas, points)
    assert await balance(stack) == before - spent
    survivors = replicas.log(1) + replicas.log(2)
    assert "[SAGA] taking over" in survivors
    assert_fenced(replicas.database)
    # The bound: every saga terminal within the lease TTL + 5 s of the kill.
    print(f"\n{owned} sagas of the killed replica; all terminal {took:.1f} s after the kill")
    assert took <= TTL + 5, f"{took:.1f} s"


async def test_a_paused_replica_writes_nothing_for_the_sagas_taken_from_it(
    replicas: Replicas,
) -> None:
    slow = {"x-fault": "seat:delay=1200,loyalty:delay=1200,payment:delay=1200,booking:delay=1200"}
    await replicas.start(2, STEP_TIMEOUT_MS="4000")
    stack = await client(replicas)
    before = await balance(stack)
    # All on replica 1 (the first stub), each in a 1.2 s step when it is paused.
    paused, other = replicas.procs[0], replicas.stubs[1]
    replicas.stubs = replicas.stubs[:1]
    points = await start_sagas(replicas, stack, 20, "pause", [slow])
    replicas.stubs = [replicas.stubs[0], other]
    await asyncio.sleep(0.5)
    assert paused.proc is not None
    paused.proc.send_signal(signal.SIGSTOP)
    try:
        deadline = time.monotonic() + TTL + 10
        while live_owned_by(replicas.database, "replica-2") < 20:
            assert time.monotonic() < deadline, "replica-2 did not take the sagas over"
            await asyncio.sleep(0.2)
    finally:
        paused.proc.send_signal(signal.SIGCONT)
    await wait_all_terminal(other, within=60)
    sagas = await all_sagas(other)
    assert len(sagas) == 20
    spent = await check_records(stack, sagas, points)
    assert await balance(stack) == before - spent
    # What the fencing proves: the paused replica, woken with outcomes and calls pending, wrote
    # nothing more for those sagas (an event under its older lease after the newer one).
    assert_fenced(replicas.database)
    # It noticed, once per saga (a write refused by the fence, or a call it did not make
    # because its lease had not been renewed in time).
    assert replicas.log(0).count("[SAGA] lease lost") == 20
    # ... and it still serves: a booking through it runs to the end.
    flight = await first_flight(stack, date="2026-12-04")
    done = await replicas.stubs[0].BookFlight(
        book_request([flight], customer="LOY-1004", points=0), timeout=30
    )
    assert done.status == pb.COMPLETED, done


async def test_any_replica_answers_for_any_saga(replicas: Replicas) -> None:
    await replicas.start(2)
    stack = await client(replicas)
    a, b = replicas.stubs
    flight = await first_flight(stack, date="2026-12-05")
    req = book_request([flight], customer="LOY-1004", points=100)
    done = await a.BookFlight(req, metadata=(("x-idempotency-key", "any-1"),), timeout=30)
    assert done.status == pb.COMPLETED
    # Reads, and a replay by key, on the other replica.
    got = await b.GetSaga(pb.GetSagaRequest(saga_id=done.saga_id), timeout=5)
    assert got.status == pb.COMPLETED and got.saga_id == done.saga_id
    assert done.saga_id in {s.saga_id for s in await all_sagas(b)}
    assert (await b.GetStats(pb.GetStatsRequest(), timeout=5)).completed == 1
    again = await b.BookFlight(req, metadata=(("x-idempotency-key", "any-1"),), timeout=30)
    assert again.saga_id == done.saga_id

    # One key sent to both replicas at once: one saga.
    async def race(i: int) -> set[str]:
        r = book_request([flight], customer="LOY-1004", points=0)
        md = (("x-idempotency-key", f"race-{i}"),)
        got = await asyncio.gather(*(s.BookFlight(r, metadata=md, timeout=30) for s in (a, b)))
        return {g.saga_id for g in got}

    raced = await asyncio.gather(*(race(i) for i in range(8)))
    assert all(len(ids) == 1 for ids in raced), raced
    assert len(await all_sagas(a)) == 1 + 8

    # WatchSaga on B streams, live, the events of a saga A drives.
    slow = (("x-fault", "seat:delay=300,loyalty:delay=300,payment:delay=300,booking:delay=300"),)
    started = await a.StartBooking(
        pb.StartBookingRequest(request_id="watched", booking=req), metadata=slow, timeout=10
    )
    delays: list[float] = []
    types: list[str] = []
    async for event in b.WatchSaga(pb.WatchSagaRequest(saga_id=started.saga_id), timeout=30):
        types.append(pb.SagaEventType.Name(event.type))
        delays.append(time.time() - event.at.ToDatetime().timestamp())
    assert types[0] == "SAGA_STARTED" and types[-1] == "SAGA_COMPLETED", types
    live = sorted(delays[2:])  # after the replay of what was logged before the watch began
    if live:
        print(f"\nWatchSaga across replicas: p50 delay {live[len(live) // 2] * 1000:.0f} ms")

    # ResumeSaga on B of a saga that went FAILED on A.
    stuck = await a.BookFlight(
        req,
        metadata=(("x-fail-at", "booking"), ("x-fault", "payment:compensate-fail=always")),
        timeout=60,
    )
    assert stuck.status == pb.FAILED, stuck
    resumed = await b.ResumeSaga(
        pb.ResumeSagaRequest(saga_id=stuck.saga_id, clear_faults=True), timeout=30
    )
    assert resumed.status == pb.COMPENSATED, resumed
    assert_fenced(replicas.database)
    with suppress(Exception):
        for ch in stack.channels:
            await ch.close()
