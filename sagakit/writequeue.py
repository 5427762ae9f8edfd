"""Group commit's write queue, the same for both database backends.

Callers queue write transactions; one writer thread takes whatever queued up while it was busy
and hands it to the backend to commit together, then settles each caller's future on its loop.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger("sagakit.db")

# Most transactions one commit may carry: bounds how long the first of them waits.
MAX_BATCH = 128


@dataclass(slots=True)
class Job:
    """One caller's write transaction function, waiting for the database's writer thread."""

    fn: Callable[[Any], Any]
    ctx: contextvars.Context
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    result: Any = None
    error: BaseException | None = None

    def run(self, runner: Callable[..., Any], *args: Any) -> None:
        """runner(*args) in the caller's context (its log lines keep the request's ids),
        kept as this job's result or error."""
        try:
            self.result, self.error = self.ctx.run(runner, *args), None
        except BaseException as exc:
            self.result, self.error = None, exc


def _settle(jobs: list[Job]) -> None:
    """On the caller's loop: hand each job its result or error (unless it was cancelled)."""
    for job in jobs:
        if job.future.done():
            continue
        if job.error is not None:
            job.future.set_exception(job.error)
        else:
            job.future.set_result(job.result)


class WriteQueue:
    """Group commit's waiting room, the same for both backends: callers queue their write
    transactions; one writer thread takes whatever queued up while it was busy and commits it
    together (`run_batch`), then hands every caller its own outcome on its own loop."""

    def __init__(self, writer: Executor, run_batch: Callable[[list[Job]], None]) -> None:
        self._writer = writer
        self._run_batch = run_batch
        self._queue: deque[Job] = deque()
        self._scheduled = False  # a drain is queued on the writer and has not started yet

    def submit(self, fn: Callable[[Any], T]) -> asyncio.Future[T]:
        """Queue fn(conn) as one write transaction now, without waiting for it.

        The future resolves once it is committed (or with its error). Transactions commit in
        the order they were submitted: one submitted later is never on disk before this one.
        """
        loop = asyncio.get_running_loop()
        # copy_context: log lines written inside fn keep the request's correlation and saga ids.
        job = Job(fn, contextvars.copy_context(), loop, loop.create_future())
        self._queue.append(job)
        # A drain is scheduled unless one is already waiting to start (it will find this job:
        # it clears the flag before it reads the queue). Work submitted to the same thread
        # after this call (SQLite's reads) still runs after this job. One drain per burst, not
        # one per call: a thread-pool submit per transaction is measurable (bench/README.md).
        if self._scheduled:
            return job.future
        self._scheduled = True
        try:
            self._writer.submit(self._drain)
        except RuntimeError:  # closed
            self._scheduled = False
            self._queue.remove(job)
            raise
        future: asyncio.Future[T] = job.future
        return future

    def _drain(self) -> None:
        """On the writer thread: run every queued transaction, committing them together."""
        self._scheduled = False
        while self._queue:
            jobs: list[Job] = []
            while self._queue and len(jobs) < MAX_BATCH:
                job = self._queue.popleft()
                if not job.future.cancelled():  # as an executor skips a cancelled work item
                    jobs.append(job)
            if not jobs:
                continue
            try:
                self._run_batch(jobs)
            except BaseException as exc:  # a backend's bug: answer every caller, hang none
                log.exception("the writer failed a batch of %d transactions", len(jobs))
                for job in jobs:  # committed or not: the caller is told it may not be
                    job.result, job.error = None, exc
            by_loop: dict[asyncio.AbstractEventLoop, list[Job]] = {}
            for job in jobs:
                by_loop.setdefault(job.loop, []).append(job)
            for loop, mine in by_loop.items():
                try:
                    loop.call_soon_threadsafe(_settle, mine)
                except RuntimeError:
                    pass  # the caller's loop is closed: nobody is waiting any more
