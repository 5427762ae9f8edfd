"""Bulk jobs through the API on a real stack (SQLite): the dry run, a resume of every FAILED
saga a filter matches, idempotency, bad input, a stop between batches, and the operator role."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import grpc
import pytest

from flightsaga.v1 import orchestrator_pb2 as pb
from flightsaga.v1 import orchestrator_pb2_grpc
from sagakit.auth import new_token
from sagakit.channels import open_channel
from tests.support.booking import book_request, first_flight
from tests.support.stack import Stack, running_stack

pytestmark = pytest.mark.timeout(120)

BROKEN = (("x-fail-at", "loyalty"), ("x-fault", "seat:compensate-fail=always"))
FAILED_ONLY = pb.SagaFilter(statuses=[pb.FAILED])


async def book(stack: Stack, n: int, metadata: tuple[tuple[str, str], ...] = BROKEN) -> None:
    flight = await first_flight(stack)
    for _ in range(n):
        await stack.orchestrator.BookFlight(
            book_request([flight], points=0), metadata=metadata, timeout=30
        )


async def ended(stack: Stack, job_id: str) -> pb.BulkJob:
    end = time.monotonic() + 30
    while time.monotonic() < end:
        job = await stack.orchestrator.GetBulkJob(pb.GetBulkJobRequest(job_id=job_id))
        if job.state not in (pb.BULK_RUNNING, pb.BULK_STOPPING):
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job still running: {job}")


async def code_of(call: object) -> tuple[grpc.StatusCode, str]:
    try:
        await call  # type: ignore[misc]
    except grpc.aio.AioRpcError as exc:
        return exc.code(), exc.details() or ""
    return grpc.StatusCode.OK, ""


async def test_dry_run_counts_then_the_job_resumes_each_failed_saga_once(tmp_path: Path) -> None:
    async with running_stack(tmp_path, COMPENSATION_MAX_ATTEMPTS="1") as stack:
        await book(stack, 4)
        await book(stack, 2, (("x-fail-at", "payment"),))  # COMPENSATED: nothing to resume
        api = stack.orchestrator
        dry = await api.StartBulkJob(
            pb.StartBulkJobRequest(
                action=pb.BULK_RESUME, filter=FAILED_ONLY, dry_run=True, request_id="dry"
            )
        )
        assert (dry.state, dry.matched, dry.done) == (pb.BULK_PLANNED, 4, 0)
        assert dry.filter.HasField("created_before")  # frozen at the start
        assert (await api.GetStats(pb.GetStatsRequest())).failed == 4

        every = pb.StartBulkJobRequest(
            action=pb.BULK_RESUME,
            filter=pb.SagaFilter(customer_id="LOY-1001"),
            clear_faults=True,
            request_id="all",
        )
        job = await api.StartBulkJob(every)
        assert (job.state, job.matched) == (pb.BULK_RUNNING, 6)
        assert (await api.StartBulkJob(every)).job_id == job.job_id  # same request id
        final = await ended(stack, job.job_id)
        assert (final.state, final.done, final.skipped, final.failed) == (pb.BULK_DONE, 4, 2, 0)
        # Stopping a finished job changes nothing.
        assert (await api.StopBulkJob(pb.StopBulkJobRequest(job_id=job.job_id))).state == (
            pb.BULK_DONE
        )
        for _ in range(100):
            stats = await api.GetStats(pb.GetStatsRequest())
            if stats.compensated == 6:
                break
            await asyncio.sleep(0.1)
        assert (stats.failed, stats.compensated) == (0, 6)
        listed = await api.ListBulkJobs(pb.ListBulkJobsRequest())
        assert [j.job_id for j in listed.jobs] == [job.job_id, dry.job_id]


async def test_bad_requests_name_the_field(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        api = stack.orchestrator
        start = api.StartBulkJob
        cases = [
            (pb.StartBulkJobRequest(request_id="x"), grpc.StatusCode.INVALID_ARGUMENT, "action"),
            (
                pb.StartBulkJobRequest(action=pb.BULK_RESUME),
                grpc.StatusCode.INVALID_ARGUMENT,
                "request_id",
            ),
            (
                pb.StartBulkJobRequest(
                    action=pb.BULK_RESUME, request_id="x", filter=pb.SagaFilter(step="nope")
                ),
                grpc.StatusCode.INVALID_ARGUMENT,
                "filter.step",
            ),
            (
                pb.StartBulkJobRequest(action=pb.BULK_CANCEL, request_id="x"),  # why?
                grpc.StatusCode.INVALID_ARGUMENT,
                "reason",
            ),
        ]
        for request, code, words in cases:
            got, message = await code_of(start(request))
            assert got == code and words in message, (request, got, message)
        dry = await start(
            pb.StartBulkJobRequest(action=pb.BULK_RESUME, request_id="k", dry_run=True)
        )
        reused = pb.StartBulkJobRequest(action=pb.BULK_RESUME, request_id="k")
        assert (await code_of(start(reused)))[0] == grpc.StatusCode.ALREADY_EXISTS
        assert dry.state == pb.BULK_PLANNED
        got, message = await code_of(api.GetBulkJob(pb.GetBulkJobRequest(job_id="nope")))
        assert got == grpc.StatusCode.NOT_FOUND and "job_id" in message
        got, _ = await code_of(api.ListBulkJobs(pb.ListBulkJobsRequest(page_size=1000)))
        assert got == grpc.StatusCode.INVALID_ARGUMENT


async def test_only_an_operator_runs_bulk_jobs(tmp_path: Path) -> None:
    lines, plain = [], {}
    for name, roles in (("ann", "booker"), ("rita", "reader"), ("ops", "operator")):
        plain[name], line = new_token(name, roles)
        lines.append(line)
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("\n".join(lines) + "\n")
    async with running_stack(tmp_path, AUTH_TOKENS_FILE=str(tokens)) as stack:
        stubs: dict[str, orchestrator_pb2_grpc.OrchestratorStub] = {}
        for name, token in plain.items():
            channel = open_channel(stack.orchestrator_addr, stack.client_tls, token)
            stack.channels.append(channel)
            stubs[name] = orchestrator_pb2_grpc.OrchestratorStub(channel)
        dry = pb.StartBulkJobRequest(action=pb.BULK_RESUME, dry_run=True, request_id="r")
        job = await stubs["ops"].StartBulkJob(dry)
        assert job.created_by == "ops"
        for name in ("ann", "rita"):
            s = stubs[name]
            for call in (
                s.StartBulkJob(dry),
                s.GetBulkJob(pb.GetBulkJobRequest(job_id=job.job_id)),
                s.StopBulkJob(pb.StopBulkJobRequest(job_id=job.job_id)),
                s.ListBulkJobs(pb.ListBulkJobsRequest()),
            ):
                assert (await code_of(call))[0] == grpc.StatusCode.PERMISSION_DENIED, name


async def cli(stack: Stack, *args: str, answer: str = "") -> tuple[int, str]:
    """The real `flightsaga` CLI against the stack: exit status, stdout and stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli",
        "--orchestrator",
        stack.orchestrator_addr,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate(answer.encode())
    return proc.returncode or 0, out.decode()


async def test_the_cli_counts_asks_then_follows_a_bulk_resume(tmp_path: Path) -> None:
    async with running_stack(tmp_path, COMPENSATION_MAX_ATTEMPTS="1") as stack:
        await book(stack, 3)
        which = ("--status", "failed", "--since", "1h", "--clear-faults")
        code, out = await cli(stack, "resume", *which, "--dry-run")
        assert (code, out.splitlines()[0]) == (0, "3 sagas match (dry run)"), out
        code, out = await cli(stack, "resume", *which, answer="n\n")
        assert code == 1 and "nothing done" in out, out
        assert (await stack.orchestrator.GetStats(pb.GetStatsRequest())).failed == 3
        code, out = await cli(stack, "resume", *which, "--yes")
        assert code == 0, out
        assert "3/3  done 3  skipped 0  failed 0" in out and "DONE" in out, out
        code, out = await cli(stack, "resume", "--status", "sideways")
        assert code == 2 and "--status" in out, out
        code, out = await cli(stack, "resume")
        assert code == 2 and "give a saga id, or a filter" in out, out
        code, out = await cli(stack, "cancel", "--status", "running", "--yes")
        assert code == 2 and "--reason" in out, out  # a cancel says why


HELD = (("x-fault", "payment:delay=8000"),)  # each saga waits in its payment


async def test_a_bulk_cancel_stops_each_running_saga_once_and_it_compensates(
    tmp_path: Path,
) -> None:
    async with running_stack(tmp_path, STEP_RETRY_FOR_S="30", STEP_MAX_ATTEMPTS="30") as stack:
        flight = await first_flight(stack)
        api = stack.orchestrator
        for i in range(4):
            await api.StartBooking(
                pb.StartBookingRequest(request_id=f"held-{i}", booking=book_request([flight])),
                metadata=HELD,
            )
        which = ("--status", "running", "--customer", "LOY-1001", "--reason", "storm at JFK")
        code, out = await cli(stack, "cancel", *which, "--dry-run")
        assert (code, out.splitlines()[0]) == (0, "4 sagas match (dry run)"), out
        code, out = await cli(stack, "cancel", *which, "--yes")
        assert code == 0 and "4/4  done 4  skipped 0  failed 0" in out, out
        job = (await api.ListBulkJobs(pb.ListBulkJobsRequest(page_size=1))).jobs[0]
        for _ in range(200):
            page = await api.ListSagas(pb.ListSagasRequest(page_size=10))
            if {s.status for s in page.sagas} == {pb.COMPENSATED}:
                break
            await asyncio.sleep(0.1)
        assert [s.status for s in page.sagas] == [pb.COMPENSATED] * 4
        by = f"anonymous (bulk job {job.job_id})"
        assert {(s.cancelled_by, s.cancel_reason) for s in page.sagas} == {(by, "storm at JFK")}
        # Again: nothing is RUNNING any more, so nothing is touched.
        code, out = await cli(stack, "cancel", *which, "--yes")
        assert (code, out.splitlines()[0]) == (0, "0 sagas match (dry run)"), out


async def test_a_bulk_resume_keeps_the_sagas_in_flight_within_the_admission_limit(
    tmp_path: Path,
) -> None:
    # The fault stays (no clear_faults): each resumed saga retries its seat compensation three
    # times, a few tenths of a second in flight, then is FAILED again.
    env = {"SAGA_MAX_IN_FLIGHT": "2", "COMPENSATION_MAX_ATTEMPTS": "3"}
    async with running_stack(tmp_path, **env) as stack:
        await book(stack, 6)
        api = stack.orchestrator
        request = pb.StartBulkJobRequest(action=pb.BULK_RESUME, filter=FAILED_ONLY, request_id="r")
        job = await api.StartBulkJob(request)
        most, end = 0, time.monotonic() + 60
        while time.monotonic() < end:
            job = await api.GetBulkJob(pb.GetBulkJobRequest(job_id=job.job_id))
            stats = await api.GetStats(pb.GetStatsRequest())
            most = max(most, stats.running + stats.compensating)
            if job.state == pb.BULK_DONE and stats.failed == 6:
                break
            await asyncio.sleep(0.02)
        # Every saga resumed (the job waited for room, never failed one), at most 2 at a time.
        assert (job.state, job.done, job.skipped, job.failed) == (pb.BULK_DONE, 6, 0, 0)
        assert 0 < most <= 2, most
        # The places the job held are all given back: a new saga is admitted.
        flight = await first_flight(stack)
        saga = await api.BookFlight(book_request([flight]), timeout=30)
        assert saga.status == pb.COMPLETED, saga.error
