"""Bulk resume of 500 FAILED sagas with the orchestrator killed (-9) in the middle of the job.

The sagas fail for real: loyalty refuses (x-fail-at) and the seat's compensation keeps failing
(compensate-fail=always), so each ends FAILED holding a seat. A bulk resume that clears the
faults is started; the orchestrator is SIGKILLed at a test hook after a batch was acted on but
before its outcomes were written (the worst moment), then restarted on the same log. The job
finishes, every saga ends COMPENSATED, and each saga's events show one resume by the job.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest

from flightsaga.v1 import orchestrator_pb2 as pb
from flightsaga.v1 import seat_pb2
from tests.support.booking import admitted, book_request
from tests.support.dates import flight_date
from tests.support.procs import ServiceProcess, free_port
from tests.support.replicas import TTL, Replicas, replicas
from tests.support.stack import Stack, orchestrator_env, running_participants

pytestmark = pytest.mark.chaos

__all__ = ["replicas"]  # the fixture, used by name

SAGAS = int(os.environ.get("BULK_TEST_SAGAS", "500"))
KILL_AFTER = (SAGAS // 50 // 2) * 50  # at the batch in the middle of the job
BROKEN = (("x-fail-at", "loyalty"), ("x-fault", "seat:compensate-fail=always"))


@pytest.fixture
async def participants(tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    async with running_participants(tmp_path) as addrs:
        yield addrs


async def flights(stack: Stack) -> list[str]:
    """Enough flights to seat every saga's passenger without selling out."""
    found: list[str] = []
    for days in range(1, 8):
        reply = await stack.seat.SearchFlights(
            seat_pb2.SearchFlightsRequest(origin="JFK", destination="LAX", date=flight_date(days))
        )
        found += [f.flight_id for f in reply.outbound]
    return found


async def make_failed(stack: Stack, n: int) -> None:
    legs = await flights(stack)
    gate = asyncio.Semaphore(32)

    async def one(i: int) -> None:
        request = pb.StartBookingRequest(
            request_id=f"bulk-{i}",
            booking=book_request([legs[i % len(legs)]], customer="LOY-1004", points=0),
        )
        async with gate:
            # More sagas than SAGA_MAX_IN_FLIGHT are left failing at once: wait as told.
            await admitted(
                lambda: stack.orchestrator.StartBooking(request, metadata=BROKEN, timeout=30)
            )

    await asyncio.gather(*(one(i) for i in range(n)))


async def until(stack: Stack, done: str, check: object, within: float = 90.0) -> pb.Stats:
    end = time.monotonic() + within
    while time.monotonic() < end:
        stats = await stack.orchestrator.GetStats(pb.GetStatsRequest(), timeout=5)
        if check(stats):  # type: ignore[operator]
            return stats
        await asyncio.sleep(0.2)
    raise AssertionError(f"not {done} after {within} s: {stats}")


async def job_until(stack: Stack, job_id: str, state: int, within: float = 90.0) -> pb.BulkJob:
    end = time.monotonic() + within
    while time.monotonic() < end:
        job = await stack.orchestrator.GetBulkJob(pb.GetBulkJobRequest(job_id=job_id), timeout=5)
        if job.state == state:
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} not {pb.BulkJobState.Name(state)}: {job}")


async def reached_(mark: Path, within: float = 60.0) -> None:
    """The orchestrator stopped itself (SIGSTOP) at the armed hook."""
    end = time.monotonic() + within
    while not await asyncio.to_thread(mark.exists):
        assert time.monotonic() < end, f"the job never reached {mark.stem}"
        await asyncio.sleep(0.02)


RESUMES = (
    "SELECT s.saga_id, e.message FROM sagas s LEFT JOIN saga_events e"
    " ON e.saga_id = s.saga_id AND e.type = 'SAGA_RESUMED'"
)


def resumes_by_saga(db: Path | str) -> dict[str, list[str]]:
    """Each saga's SAGA_RESUMED events' messages, read from the saga log itself (a SQLite
    file, or a PostgreSQL URL)."""
    if isinstance(db, Path):
        with sqlite3.connect(db) as conn:
            rows = conn.execute(RESUMES).fetchall()
    else:
        with psycopg.connect(db) as pg:
            rows = pg.execute(RESUMES).fetchall()
    out: dict[str, list[str]] = {}
    for saga_id, message in rows:
        out.setdefault(saga_id, [])
        if message is not None:
            out[saga_id].append(message)
    return out


def orchestrator(participants: dict[str, str], data: Path, **extra: str) -> ServiceProcess:
    env = orchestrator_env(
        participants,
        data,
        DATABASE_URL=f"sqlite:///{data / 'orchestrator.db'}",
        FAULT_INJECTION="enabled",
        STEP_TIMEOUT_MS="500",
        COMPENSATION_MAX_ATTEMPTS="1",
        **extra,
    )
    return ServiceProcess("orchestrator", free_port(), env, data / "orchestrator.log")


async def test_bulk_resume_of_500_failed_sagas_survives_a_kill9_and_acts_once_per_saga(
    tmp_path: Path, participants: dict[str, str]
) -> None:
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    db = tmp_path / "orchestrator.db"
    orch = orchestrator(participants, tmp_path, FLIGHTSAGA_TEST_HOOKS=str(hooks))
    orch.start()
    await orch.wait_healthy()
    stack = Stack(orch.addr, participants, tmp_path)
    try:
        began = time.monotonic()
        await make_failed(stack, SAGAS)
        await until(stack, f"{SAGAS} FAILED", lambda s: s.failed == SAGAS)
        print(f"\n{SAGAS} FAILED sagas made in {time.monotonic() - began:.1f} s")

        everything = pb.SagaFilter(statuses=[pb.FAILED])
        dry = await stack.orchestrator.StartBulkJob(
            pb.StartBulkJobRequest(
                action=pb.BULK_RESUME, filter=everything, dry_run=True, request_id="count"
            ),
            timeout=10,
        )
        assert (dry.state, dry.matched) == (pb.BULK_PLANNED, SAGAS)
        assert (await stack.orchestrator.GetStats(pb.GetStatsRequest())).failed == SAGAS

        (hooks / f"bulk-acted-after-{KILL_AFTER}").write_text("stop")
        started = time.monotonic()
        job = await stack.orchestrator.StartBulkJob(
            pb.StartBulkJobRequest(
                action=pb.BULK_RESUME, filter=everything, clear_faults=True, request_id="go"
            ),
            timeout=10,
        )
        assert (job.state, job.matched) == (pb.BULK_RUNNING, SAGAS)
        await reached_(hooks / f"bulk-acted-after-{KILL_AFTER}.reached")
        orch.kill9()
        at_kill = {k: len(v) for k, v in resumes_by_saga(db).items()}
        resumed_at_kill = sum(at_kill.values())
        print(f"killed with {resumed_at_kill} sagas resumed by the job "
              f"(outcomes written for {KILL_AFTER})")  # fmt: skip
        assert KILL_AFTER < resumed_at_kill < SAGAS

        orch.start()
        await orch.wait_healthy()
        final = await job_until(stack, job.job_id, pb.BULK_DONE)
        took = time.monotonic() - started
        await until(stack, "all COMPENSATED", lambda s: s.compensated == SAGAS)
        print(f"bulk job: {SAGAS} sagas in {took:.1f} s with a kill -9 and a restart: "
              f"{SAGAS / took:.0f} sagas/s")  # fmt: skip

        assert (final.done, final.skipped, final.failed) == (SAGAS, 0, 0)
        resumes = resumes_by_saga(db)
        assert len(resumes) == SAGAS
        twice = {k: v for k, v in resumes.items() if len(v) != 1}
        assert not twice, f"sagas not resumed exactly once: {list(twice.items())[:5]}"
        assert {m for v in resumes.values() for m in v} == {f"bulk job {job.job_id}"}
    finally:
        for ch in stack.channels:
            await ch.close()
        orch.stop()


async def test_a_stopped_job_stops_between_batches_and_leaves_the_rest_alone(
    tmp_path: Path, participants: dict[str, str]
) -> None:
    n = 300
    orch = orchestrator(participants, tmp_path)
    orch.start()
    await orch.wait_healthy()
    stack = Stack(orch.addr, participants, tmp_path)
    try:
        await make_failed(stack, n)
        await until(stack, f"{n} FAILED", lambda s: s.failed == n)
        job = await stack.orchestrator.StartBulkJob(
            pb.StartBulkJobRequest(
                action=pb.BULK_RESUME,
                filter=pb.SagaFilter(statuses=[pb.FAILED]),
                clear_faults=True,
                request_id="to-stop",
            ),
            timeout=10,
        )
        asked = await stack.orchestrator.StopBulkJob(pb.StopBulkJobRequest(job_id=job.job_id))
        assert asked.state in (pb.BULK_STOPPING, pb.BULK_STOPPED)
        final = await job_until(stack, job.job_id, pb.BULK_STOPPED)
        assert final.done < n and final.done % 50 == 0  # whole batches only
        stats = await until(stack, "settled", lambda s: s.running + s.compensating == 0)
        assert (stats.failed, stats.compensated) == (n - final.done, final.done)
    finally:
        for ch in stack.channels:
            await ch.close()
        orch.stop()


@pytest.mark.postgres
async def test_bulk_resume_on_two_replicas_goes_on_when_its_driver_is_killed(
    replicas: Replicas,
) -> None:
    n, kill_after = 200, 100
    hooks = replicas.data / "hooks"
    hooks.mkdir()
    env = {"COMPENSATION_MAX_ATTEMPTS": "1", "FLIGHTSAGA_TEST_HOOKS": str(hooks)}
    await replicas.start(2, **env)
    stack = Stack(replicas.procs[0].addr, replicas.addrs, replicas.data)
    try:
        await make_failed(stack, n)
        await until(stack, f"{n} FAILED", lambda s: s.failed == n)
        # Whichever replica drives the job stops at the hook; that one is killed.
        (hooks / f"bulk-acted-after-{kill_after}").write_text("stop")
        job = await stack.orchestrator.StartBulkJob(
            pb.StartBulkJobRequest(
                action=pb.BULK_RESUME,
                filter=pb.SagaFilter(statuses=[pb.FAILED]),
                clear_faults=True,
                request_id="ha",
            ),
            timeout=10,
        )
        reached = hooks / f"bulk-acted-after-{kill_after}.reached"
        await reached_(reached)
        pid = int(reached.read_text())
        driver = next(i for i, p in enumerate(replicas.procs) if p.proc and p.proc.pid == pid)
        replicas.procs[driver].kill9()
        survivor = Stack(replicas.procs[1 - driver].addr, replicas.addrs, replicas.data)
        started = time.monotonic()
        final = await job_until(survivor, job.job_id, pb.BULK_DONE)
        print(f"\nreplica-{driver + 1} killed mid-job; the other finished it "
              f"{time.monotonic() - started:.1f} s later (lease TTL {TTL} s)")  # fmt: skip
        await until(survivor, "all COMPENSATED", lambda s: s.compensated == n)
        assert (final.done, final.skipped, final.failed) == (n, 0, 0)
        resumes = resumes_by_saga(replicas.database)
        assert len(resumes) == n
        assert not {k: v for k, v in resumes.items() if len(v) != 1}
        assert "[BULK] driving" in replicas.log(1 - driver)
        for ch in survivor.channels:
            await ch.close()
    finally:
        for ch in stack.channels:
            await ch.close()
