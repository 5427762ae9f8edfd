"""A service's database: SQLite (embedded, the default) or PostgreSQL, chosen by DATABASE_URL.

Both backends run the same transaction functions: plain synchronous functions of a connection
(`Conn`), written once in SQL both dialects accept (`?` placeholders; rows indexable by name
and by position). A transaction function runs whole or not at all, and sees the effects of
every transaction committed before it, as if transactions ran one at a time: SQLite runs them
on one thread; PostgreSQL runs them SERIALIZABLE and runs a function again when PostgreSQL
reports a conflict with a concurrent one (so a function must have no effect outside the
database until it returns).
"""

from __future__ import annotations

import asyncio
import contextvars
import sqlite3
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import psycopg

from sagakit.config import is_postgres, sqlite_file
from sagakit.migrate import Migrations

T = TypeVar("T")

# A constraint caught a conflict: the one exception both backends raise for it.
IntegrityError = (sqlite3.IntegrityError, psycopg.IntegrityError)


class Conflict(Exception):
    """Raised by a transaction function that met the effect of a concurrent transaction it
    cannot see (PostgreSQL: committed after its snapshot was taken): the backend runs it again
    on a fresh snapshot. SQLite runs transactions one at a time, so it never sees one."""


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class Conn(Protocol):
    """What a transaction function may use."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Cursor: ...
    def executemany(self, sql: str, seq_of_parameters: Iterable[Sequence[Any]], /) -> Cursor: ...


class Database(Protocol):
    # "sqlite" (one process per file: transactions one at a time) or "postgresql" (shared).
    dialect: str

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def transaction(self, fn: Callable[[Conn], T]) -> T:
        """Run fn(conn) in one write transaction; returns once it is committed."""

    def submit(self, fn: Callable[[Conn], T]) -> asyncio.Future[T]:
        """Start fn(conn) as a write transaction now; the future resolves once committed."""

    async def read(self, fn: Callable[[Conn], T]) -> T:
        """Run fn(conn) without writing."""


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
        # after this call (SQLite's reads) still runs after this job. Submitting a drain per
        # call cost 3 % of the orchestrator's CPU at 32 concurrent sagas.
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
            self._run_batch(jobs)
            by_loop: dict[asyncio.AbstractEventLoop, list[Job]] = {}
            for job in jobs:
                by_loop.setdefault(job.loop, []).append(job)
            for loop, mine in by_loop.items():
                try:
                    loop.call_soon_threadsafe(_settle, mine)
                except RuntimeError:
                    pass  # the caller's loop is closed: nobody is waiting any more


@contextmanager
def savepoint(conn: Conn) -> Iterator[None]:
    """Undo only this block's statements if it raises (the transaction goes on); PostgreSQL
    needs it to go on after an error, SQLite accepts it too."""
    conn.execute("SAVEPOINT block")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK TO SAVEPOINT block")
        conn.execute("RELEASE SAVEPOINT block")
        raise
    conn.execute("RELEASE SAVEPOINT block")


def connect(
    url: str, schema: Migrations | str, synchronous: str = "FULL", hold_s: float | None = None
) -> Database:
    """The database at DATABASE_URL `url` (not opened yet). `hold_s`: on PostgreSQL, how long
    one of this process's transactions may hold rows (postgres_db.SessionBound)."""
    if is_postgres(url):
        from sagakit.postgres_db import PostgresDatabase, SessionBound

        if not isinstance(schema, Migrations):
            raise TypeError("a PostgreSQL database is set up by migrations")
        bound = SessionBound(hold_s) if hold_s is not None else None
        return PostgresDatabase(url, schema, bound=bound)
    from sagakit.sqlite_db import SqliteDatabase

    return SqliteDatabase(sqlite_file(url), schema, synchronous)
