"""Retention with the whole stack running (real servers; SQLite files and PostgreSQL): old
finished sagas leave the saga log with all their rows, in batches, while live, FAILED and young
ones stay and GetStats follows; participants delete old barrier marks in batches; and a saga
too old for its participants' barriers gets no call, but is stopped FAILED with the reason.

Rows are made old by writing old timestamps into the databases, as time would have."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

import grpc
import pytest

from flightsaga.v1 import orchestrator_pb2 as pb
from flightsaga.v1 import orchestrator_pb2_grpc
from sagakit.config import RetentionConfig
from sagakit.retention import cutoff
from tests.support.booking import book_request, first_flight
from tests.support.stack import Stack, running_orchestrator, running_participants, running_stack

DAY = 86400.0
# Quick sweeps for the test: small batches, no pause, a sweep every 0.1 s.
SWEEPS = {"RETENTION_BATCH": "3", "RETENTION_PAUSE_MS": "0", "RETENTION_EVERY_S": "0.1"}
ORCHESTRATOR_TABLES = ("sagas", "saga_steps", "saga_events", "saga_outbox", "saga_leases")


def execute(url: str, sql: str, args: Sequence[object] = ()) -> list[tuple[object, ...]]:
    """One statement on a service's database (a SQLite file or PostgreSQL), committed."""
    if url.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(url) as conn:
            cur = conn.execute(sql.replace("?", "%s"), args)
            return list(cur.fetchall()) if cur.description else []
    conn = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        with conn:
            return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def age_sagas(url: str, saga_ids: Sequence[str], days: float) -> None:
    """Make sagas look started (and finished, if they are) `days` ago."""
    then = cutoff(days * DAY)
    for saga_id in saga_ids:
        execute(
            url,
            "UPDATE sagas SET created_at=?, finished_at=CASE WHEN finished_at IS NULL"
            " THEN NULL ELSE ? END WHERE saga_id=?",
            (then, then, saga_id),
        )


def rows_of(url: str, saga_ids: Sequence[str]) -> dict[str, int]:
    marks = ",".join("?" * len(saga_ids))
    return {
        t: int(execute(url, f"SELECT COUNT(*) FROM {t} WHERE saga_id IN ({marks})", saga_ids)[0][0])
        for t in ORCHESTRATOR_TABLES
    }


async def book(stack: Stack, flight: str, **md: str) -> pb.Saga:
    metadata = tuple((k.replace("_", "-"), v) for k, v in md.items())
    return await stack.orchestrator.BookFlight(
        book_request([flight], points=100), metadata=metadata, timeout=60
    )


async def until(check: Callable[[], bool], what: str, within: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while not check():
        assert loop.time() < end, f"not within {within:g} s: {what}"
        await asyncio.sleep(0.1)


async def close(stack: Stack) -> None:
    for channel in stack.channels:
        await channel.close()


async def exists(stack: Stack, saga_id: str) -> bool:
    try:
        await stack.orchestrator.GetSaga(pb.GetSagaRequest(saga_id=saga_id), timeout=10)
    except grpc.aio.AioRpcError as exc:
        assert exc.code() == grpc.StatusCode.NOT_FOUND
        return False
    return True


async def test_old_finished_sagas_leave_the_log_in_batches_and_the_rest_stay(
    tmp_path: Path, database_url: Callable[[str], str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="sagakit.retention")
    url = database_url("orchestrator")
    # Sweeps far apart while the sagas are made; then, the orchestrator restarted, every 0.1 s.
    slow = {**SWEEPS, "RETENTION_EVERY_S": "3600"}
    async with running_participants(tmp_path, urls=database_url) as addrs:
        async with running_orchestrator(
            addrs, tmp_path, urls=database_url, SAGA_RETENTION="1d", **slow
        ) as addr:
            stack = Stack(addr, addrs, tmp_path)
            flight = await first_flight(stack)
            completed = [(await book(stack, flight)).saga_id for _ in range(8)]
            compensated = [
                (await book(stack, flight, x_fail_at="payment")).saga_id for _ in range(2)
            ]
            failed = await book(
                stack, flight, x_fail_at="booking", x_fault="loyalty:compensate-fail=always"
            )
            assert pb.SagaStatus.Name(failed.status) == "FAILED"
            # Held at the participant long enough to be live when the orchestrator stops.
            live = await stack.orchestrator.StartBooking(
                pb.StartBookingRequest(request_id="live-1", booking=book_request([flight])),
                metadata=(("x-fault", "seat:delay=20000"),),
                timeout=10,
            )
            before = await stack.orchestrator.GetStats(pb.GetStatsRequest(), timeout=10)
            await close(stack)
        old = completed[:6] + compensated[:1]
        young = completed[6:] + compensated[1:]
        age_sagas(url, [*old, failed.saga_id, live.saga_id], days=2)
        assert rows_of(url, old)["saga_events"] > 0

        async with running_orchestrator(
            addrs, tmp_path, urls=database_url, SAGA_RETENTION="1d", **SWEEPS
        ) as addr:
            stack = Stack(addr, addrs, tmp_path)
            await until(lambda: rows_of(url, old)["sagas"] == 0, "old finished sagas deleted")
            assert rows_of(url, old) == dict.fromkeys(ORCHESTRATOR_TABLES, 0)
            for saga_id in old:
                assert not await exists(stack, saga_id)
            for saga_id in [*young, failed.saga_id, live.saga_id]:
                assert await exists(stack, saga_id), saga_id
            after = await stack.orchestrator.GetStats(pb.GetStatsRequest(), timeout=10)
            assert after.completed == before.completed - 6
            assert after.compensated == before.compensated - 1
            assert after.failed == before.failed == 1
            assert after.total == before.total - 7
            # What the counts say is what the log holds.
            listed = await stack.orchestrator.ListSagas(
                pb.ListSagasRequest(page_size=100), timeout=10
            )
            assert listed.total == after.total == len(listed.sagas)
            steps = execute(url, "SELECT state, COUNT(*) FROM saga_steps GROUP BY state")
            by_state = {str(k): int(str(n)) for k, n in steps}
            assert after.steps_completed == by_state.get("SUCCEEDED", 0)
            assert after.compensations_completed == by_state.get("COMPENSATED_STEP", 0)
            await close(stack)
    batches = [r for r in caplog.records if "one batch" in r.getMessage()]
    assert len(batches) >= 3  # 7 sagas, 3 per batch
    assert all("finished sagas" in r.getMessage() for r in batches)


async def test_participants_delete_old_barrier_marks_in_batches(
    tmp_path: Path, database_url: Callable[[str], str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="sagakit.retention")
    hours = RetentionConfig(barrier=3 * 3600, batch=2, pause=0.0, every=0.1)
    seat = database_url("seat_service")
    async with running_stack(tmp_path, urls=database_url, retention=hours) as stack:
        flight = await first_flight(stack)
        sagas = [(await book(stack, flight, x_fail_at="booking")).saga_id for _ in range(4)]
        old, young = sagas[:3], sagas[3:]

        def marks(ids: Sequence[str]) -> int:
            n = execute(
                seat,
                f"SELECT COUNT(*) FROM saga_barrier WHERE saga_id IN ({','.join('?' * len(ids))})",
                ids,
            )
            return int(str(n[0][0]))

        assert marks(old) == 6 and marks(young) == 2  # a Do and a Compensate each
        then = cutoff(4 * 3600)
        for saga_id in old:
            execute(seat, "UPDATE saga_barrier SET created_at=? WHERE saga_id=?", (then, saga_id))
        await until(lambda: marks(old) == 0, "old barrier marks deleted")
        assert marks(young) == 2
    seat_batches = [r for r in caplog.records if "one batch" in r.getMessage()]
    assert all("barrier marks" in r.getMessage() for r in seat_batches)
    assert len(seat_batches) >= 3  # 6 marks, 2 per batch


async def test_a_saga_older_than_the_barriers_allow_gets_no_call_and_stops_failed(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'orchestrator.db'}"
    # The participants keep marks 3 h; the orchestrator calls for sagas up to 2 h old.
    hours = RetentionConfig(barrier=3 * 3600, every=3600)
    async with running_participants(tmp_path, retention=hours) as addrs:
        async with running_orchestrator(addrs, tmp_path, BARRIER_RETENTION="3h") as addr:
            async with grpc.aio.insecure_channel(addr) as channel:
                stub = orchestrator_pb2_grpc.OrchestratorStub(channel)
                stack = Stack(addr, addrs, tmp_path)
                flight = await first_flight(stack)
                # Its payment is held at the participant: the saga is live when we stop.
                saga = await stub.StartBooking(
                    pb.StartBookingRequest(request_id="old-1", booking=book_request([flight])),
                    metadata=(("x-fault", "payment:delay=30000"),),
                    timeout=10,
                )

                async def at_payment() -> bool:
                    s = await stub.GetSaga(pb.GetSagaRequest(saga_id=saga.saga_id), timeout=5)
                    return pb.StepState.Name(s.steps[2].state) == "EXECUTING"

                for _ in range(100):
                    if await at_payment():
                        break
                    await asyncio.sleep(0.1)
                await close(stack)
        # Stopped mid-saga; three hours pass.
        age_sagas(url, [saga.saga_id], days=3 / 24)
        seat = f"sqlite:///{tmp_path / 'seat_service.db'}"
        marks_before = execute(seat, "SELECT op FROM saga_barrier WHERE saga_id=?", (saga.saga_id,))
        async with running_orchestrator(addrs, tmp_path, BARRIER_RETENTION="3h") as addr:
            async with grpc.aio.insecure_channel(addr) as channel:
                stub = orchestrator_pb2_grpc.OrchestratorStub(channel)
                final: pb.Saga | None = None
                for _ in range(100):
                    final = await stub.GetSaga(pb.GetSagaRequest(saga_id=saga.saga_id), timeout=5)
                    if pb.SagaStatus.Name(final.status) == "FAILED":
                        break
                    await asyncio.sleep(0.1)
                assert final is not None and pb.SagaStatus.Name(final.status) == "FAILED"
                assert "BARRIER_RETENTION" in final.error, final.error
                # No call was made: the seat held on its forward path is still held, unreleased.
                assert (
                    execute(seat, "SELECT op FROM saga_barrier WHERE saga_id=?", (saga.saga_id,))
                    == marks_before
                    == [("do",)]
                )
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await stub.ResumeSaga(pb.ResumeSagaRequest(saga_id=saga.saga_id), timeout=10)
                assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
                assert "BARRIER_RETENTION" in (refused.value.details() or "")


def bulk_rows(url: str) -> tuple[set[str], set[tuple[str, str]]]:
    jobs = {str(r[0]) for r in execute(url, "SELECT job_id FROM bulk_jobs")}
    rows = execute(url, "SELECT job_id, saga_id FROM bulk_job_sagas")
    taken = {(str(j), str(s)) for j, s in rows}
    return jobs, taken


async def test_bulk_jobs_leave_with_their_sagas_and_once_ended_long_ago(
    tmp_path: Path, database_url: Callable[[str], str]
) -> None:
    url = database_url("orchestrator")
    slow = {**SWEEPS, "RETENTION_EVERY_S": "3600"}
    async with running_participants(tmp_path, urls=database_url) as addrs:
        async with running_orchestrator(
            addrs, tmp_path, urls=database_url, SAGA_RETENTION="1d", **slow
        ) as addr:
            stack = Stack(addr, addrs, tmp_path)
            flight = await first_flight(stack)
            sagas = [(await book(stack, flight)).saga_id for _ in range(3)]
            # Two jobs that take every saga in hand (each is COMPLETED: skipped).
            jobs = [await resume_all(stack, f"job-{i}") for i in range(2)]
            await close(stack)
        assert bulk_rows(url) == ({*jobs}, {(j, s) for j in jobs for s in sagas})
        age_sagas(url, sagas[:2], days=2)
        execute(url, "UPDATE bulk_jobs SET updated_at=? WHERE job_id=?", (cutoff(2 * DAY), jobs[0]))

        async with running_orchestrator(
            addrs, tmp_path, urls=database_url, SAGA_RETENTION="1d", **SWEEPS
        ) as addr:
            stack = Stack(addr, addrs, tmp_path)
            # The job that ended long ago goes whole; the young one loses the pruned sagas only.
            await until(
                lambda: bulk_rows(url) == ({jobs[1]}, {(jobs[1], sagas[2])}), "bulk rows pruned"
            )
            with pytest.raises(grpc.aio.AioRpcError) as gone:
                await stack.orchestrator.GetBulkJob(pb.GetBulkJobRequest(job_id=jobs[0]))
            assert gone.value.code() == grpc.StatusCode.NOT_FOUND
            kept = await stack.orchestrator.GetBulkJob(pb.GetBulkJobRequest(job_id=jobs[1]))
            assert (kept.state, kept.matched, kept.skipped) == (pb.BULK_DONE, 3, 3)
            await close(stack)


async def resume_all(stack: Stack, request_id: str) -> str:
    """A bulk resume of every saga, followed to its end; its job id."""
    job = await stack.orchestrator.StartBulkJob(
        pb.StartBulkJobRequest(action=pb.BULK_RESUME, request_id=request_id), timeout=10
    )
    for _ in range(300):
        got = await stack.orchestrator.GetBulkJob(pb.GetBulkJobRequest(job_id=job.job_id))
        if got.state == pb.BULK_DONE:
            return job.job_id
        await asyncio.sleep(0.1)
    raise AssertionError(f"bulk job not done: {got}")
