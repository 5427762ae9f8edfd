"""SQLite on one dedicated thread per database (the embedded default backend).

All statements of a service run on one thread, so transactions are serialised without
SQLITE_BUSY and the event loop never blocks on disk. WAL journal; synchronous=FULL by default
(SQLITE_SYNCHRONOUS=NORMAL trades power-loss durability for speed; a killed process loses
nothing either way).
"""

from __future__ import annotations

import asyncio
import contextvars
import fcntl
import os
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from sagakit.config import ConfigError
from sagakit.migrate import VERSION_TABLE, Migrations, check_version, upgrade
from sagakit.writequeue import Job, WriteQueue

T = TypeVar("T")


def _version(conn: sqlite3.Connection) -> str | None:
    """The schema version the file is at (None: no version table yet); cheap, so a service
    at the current version never loads Alembic."""
    if not conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (VERSION_TABLE,)
    ).fetchone():
        return None
    row = conn.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchone()
    return str(row[0]) if row else None


class SqliteDatabase:
    """Group commit: transactions that queue up while the database thread is busy (concurrent
    requests, concurrent sagas) run back to back inside one SQLite transaction, each in its own
    savepoint, and commit with one fsync. Every caller still awaits its own commit:
    `transaction` returns only once the batch holding its work is on disk, and a caller whose
    function raises is rolled back alone (to its savepoint) without touching the others."""

    dialect = "sqlite"

    def __init__(self, path: Path, schema: str | Migrations, synchronous: str = "FULL") -> None:
        """`schema`: the service's migrations, or (tests) a script of CREATE statements."""
        self.path = path
        self._schema = schema
        self._synchronous = synchronous
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"db-{path.stem}")
        self._conn: sqlite3.Connection | None = None
        self._writes = WriteQueue(self._executor, self._run_jobs)
        self._lock: int | None = None

    def _take_ownership(self) -> None:
        """One process per SQLite file: a second orchestrator on the same saga log would drive
        every live saga twice, a second participant would keep a barrier of its own in memory
        order. The lock is the kernel's (flock): it goes with the process, kill -9 included."""
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise ConfigError(
                f"DATABASE_URL: {self.path} is in use by {holder}; SQLite runs one process per "
                "file (stop the other one, or use another data folder; several replicas need "
                "PostgreSQL)"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}".encode())
        self._lock = fd

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._take_ownership()
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.execute("PRAGMA foreign_keys=ON")
            if isinstance(self._schema, str):
                conn.executescript(self._schema)
            elif not check_version(_version(conn), self._schema):
                upgrade(f"sqlite:///{self.path}", self._schema)
        except BaseException:
            self._release()
            raise
        self._conn = conn

    def _release(self) -> None:
        if self._lock is not None:
            os.close(self._lock)  # releases the flock
            self._lock = None

    async def open(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self._open)

    def _tx(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._conn
        assert conn is not None, "Database.open() was not awaited"
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    def _run_batch(self, conn: sqlite3.Connection, jobs: list[Job]) -> None:
        """Several callers' functions in one transaction, each in a savepoint; one commit."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            for job in jobs:
                conn.execute("SAVEPOINT job")
                job.run(job.fn, conn)
                if job.error is not None:
                    if not conn.in_transaction:
                        # SQLite gave up the whole transaction: nobody's work survives.
                        raise job.error
                    conn.execute("ROLLBACK TO job")
                conn.execute("RELEASE job")
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for job in jobs:
                if job.error is None:
                    job.result, job.error = None, exc

    def _run_jobs(self, jobs: list[Job]) -> None:
        """On the database thread (WriteQueue): one commit for every job queued together."""
        conn = self._conn
        if conn is None:
            for job in jobs:
                job.error = AssertionError("Database.open() was not awaited")
        elif len(jobs) == 1:
            jobs[0].run(self._tx, jobs[0].fn)
        else:
            self._run_batch(conn, jobs)

    def submit(self, fn: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        """Queue fn(conn) as one write transaction now (see WriteQueue.submit); a read()
        called after it runs after it."""
        return self._writes.submit(fn)

    async def transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run fn(conn) in one write transaction: all of it commits, or none of it.

        Returns once it is committed (possibly in one commit with other callers' work).
        """
        return await self.submit(fn)

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run fn(conn) on the database thread without a write lock."""
        conn = self._conn
        assert conn is not None, "Database.open() was not awaited"
        ctx = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(self._executor, ctx.run, fn, conn)

    async def close(self) -> None:
        def _close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            self._release()

        await asyncio.get_running_loop().run_in_executor(self._executor, _close)
        self._executor.shutdown(wait=True)
