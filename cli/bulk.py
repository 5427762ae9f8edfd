"""Bulk resume and cancel by filter: `flightsaga resume --status failed --since 1h --yes`,
`flightsaga cancel --status running --reason ... --yes`. A dry run counts the matching sagas
first; after a confirmation (or `--yes`) the orchestrator runs the job and a progress bar
follows it."""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace

from cli.common import EXIT_NOT_CONFIRMED, EXIT_OK
from cli.list_sagas import add_filter_options, words_of
from flightsaga.v1 import orchestrator_pb2 as pb
from orchestrator.client import OrchestratorClient
from sagakit.saga_finder import saga_filter

SingleCommand = Callable[[OrchestratorClient, argparse.Namespace], Awaitable[int]]
LIVE = (pb.BULK_RUNNING, pb.BULK_STOPPING)


def add_bulk_options(p: argparse.ArgumentParser) -> None:
    """The filter of a bulk job (the options of `list`), and its confirmation."""
    add_filter_options(p)
    p.add_argument("--dry-run", action="store_true", help="with a filter: only count the sagas")
    p.add_argument("--yes", action="store_true", help="with a filter: no confirmation")


def filter_of(a: argparse.Namespace, action: pb.BulkAction.ValueType) -> pb.SagaFilter | None:
    """The filter the options give; None when they give none. A cancel's --reason is why it
    cancels, not a failure's reason."""
    words = words_of(a)
    if action == pb.BULK_CANCEL:
        words = replace(words, reason="")
    f = saga_filter(words, label=lambda p: f"--{p}")  # ValueError: exit 2
    return f if f.ListFields() else None


def single_or_bulk(single: SingleCommand, action: pb.BulkAction.ValueType) -> SingleCommand:
    """`single` for a command given a saga id; a bulk job for one given a filter instead."""

    async def run(fs: OrchestratorClient, a: argparse.Namespace) -> int:
        if a.saga_id:
            return await single(fs, a)
        found = filter_of(a, action)
        if found is None:
            raise ValueError("give a saga id, or a filter (--status, --since, --customer, ...)")
        return await bulk(fs, a, action, found)

    return run


async def bulk(
    fs: OrchestratorClient, a: argparse.Namespace, action: pb.BulkAction.ValueType, f: pb.SagaFilter
) -> int:
    verb = "resume" if action == pb.BULK_RESUME else "cancel"
    start = pb.StartBulkJobRequest(
        action=action,
        filter=f,
        clear_faults=getattr(a, "clear_faults", False),
        reason=a.reason if action == pb.BULK_CANCEL else "",
    )
    start.request_id = uuid.uuid4().hex
    dry = await fs.start_bulk_job(
        pb.StartBulkJobRequest(
            action=action, filter=f, dry_run=True, request_id=f"{start.request_id}-count"
        )
    )
    print(f"{dry.matched} sagas match (dry run)", flush=True)
    if a.dry_run or dry.matched == 0:
        return EXIT_OK
    if not a.yes and not _confirmed(f"{verb} the {verb}able ones of these {dry.matched} sagas?"):
        print("nothing done")
        return EXIT_NOT_CONFIRMED
    job = await fs.start_bulk_job(start)
    print(f"bulk {verb} job {job.job_id} started", flush=True)
    while job.state in LIVE:
        _progress(job, end="\r" if sys.stdout.isatty() else "\n")
        await asyncio.sleep(0.5)
        job = await fs.bulk_job(job.job_id)
    _progress(job, end="\n")
    print(f"job {job.job_id}: {pb.BulkJobState.Name(job.state).removeprefix('BULK_')}")
    if job.last_error:
        print(f"last error: {job.last_error}")
    return EXIT_OK if job.state == pb.BULK_DONE and job.failed == 0 else EXIT_NOT_CONFIRMED


def _confirmed(question: str) -> bool:
    try:
        return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False


def _progress(job: pb.BulkJob, end: str) -> None:
    seen = job.done + job.skipped + job.failed
    width = 30
    filled = width * seen // job.matched if job.matched else width
    bar = "#" * filled + "." * (width - filled)
    print(
        f"[{bar}] {seen}/{job.matched}  done {job.done}  skipped {job.skipped}"
        f"  failed {job.failed}",
        end=end,
        flush=True,
    )
