"""PostgreSQL behind a service, with psycopg 3 and its connection pool.

Transaction functions run on a pool of worker threads, each with a pooled connection,
SERIALIZABLE, so that the outcome is the one of some serial order (the barrier and the
seat/points checks rely on it); on a conflict with a concurrent transaction (serialization
failure, deadlock) a function runs again from the start on a fresh snapshot. Commits are
durable (`synchronous_commit` on). An unreachable server fails calls with Unavailable, nothing
half-written; the pool reconnects by itself when the server is back.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import random
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar, cast

import psycopg
from psycopg import errors
from psycopg.pq import TransactionStatus
from psycopg_pool import ConnectionPool, PoolTimeout

from sagakit.config import ConfigError
from sagakit.db import Conflict, DatabaseUnavailable
from sagakit.errors import Reason, Unavailable
from sagakit.migrate import Migrations, check_version, upgrade
from sagakit.pgconn import PgConn, Row, rows
from sagakit.pggate import Gate
from sagakit.pgsession import BOUND_ENDED, SessionBound, Watchdog
from sagakit.writequeue import Job, WriteQueue

T = TypeVar("T")
log = logging.getLogger("sagakit.db")

POOL_SIZE = 8  # connections, and worker threads running transactions
CONNECT_TIMEOUT_S = 5
# How long a call waits for a working connection before it fails UNAVAILABLE: rides out a
# server restart of a second or two, and answers well within a caller's deadline otherwise.
POOL_WAIT_S = 2.0
MAX_RETRIES = 20  # runs of one transaction function on conflicts before giving up
_KEPT_CONFLICTING = f"the transaction conflicted with concurrent ones {MAX_RETRIES} times"
# A pooled connection that finished a transaction this recently is handed out without the
# pool's liveness ping (a round trip per transaction otherwise); an idler one is pinged first.
CHECK_IDLE_S = 1.0
PING_LIMIT_S = 1.0  # with a SessionBound: a ping not answered within it drops the connection
_RETRY = (errors.SerializationFailure, errors.DeadlockDetected, Conflict)


class Unreachable(Unavailable, DatabaseUnavailable):
    """The server is unreachable or ended the session (UNAVAILABLE to a caller)."""


class _SessionEnded(Exception):
    """A batch's connection broke before its COMMIT ran: nothing of it was written."""


# The server ends a session idle in a transaction past the bound (SessionBound) only while it
# waits for the client's next command: a COMMIT answered with that error never ran. A process
# paused (SIGSTOP) after its last statement and before its COMMIT sees it there.
_COMMIT_NEVER_RAN = "the server ended the session before the COMMIT, again and again"


def masked(url: str) -> str:
    """The URL with its password hidden (for messages)."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


class PostgresDatabase:
    """Group commit, as on SQLite: write transactions that queue up while the writer thread is
    busy run back to back in one PostgreSQL transaction with one COMMIT (one WAL flush, one
    BEGIN/COMMIT round trip pair and one thread hand-off for the lot). Every caller still awaits
    its own commit and gets its own result or error. A function that raises (or needs a fresh
    snapshot: a statement the server aborted, a serialization failure) ends the batch: the work
    before it runs again and commits, it runs again alone, and the batch goes on after it, so
    transactions still commit in the order they were submitted. A batch whose COMMIT conflicts
    runs again one transaction at a time. Reads run side by side on the pool."""

    dialect = "postgresql"

    def __init__(
        self,
        url: str,
        migrations: Migrations,
        pool_size: int = POOL_SIZE,
        bound: SessionBound | None = None,
    ) -> None:
        self.url = url
        self._bound = bound
        self._watchdog = Watchdog(bound.hold_s + 1.0) if bound is not None else None
        self._migrations = migrations
        self._executor = ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="pg")
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pg-writer")
        self._writes = WriteQueue(self._writer, self._run_jobs)
        self._pool: ConnectionPool[psycopg.Connection[Row]] | None = None
        self._pool_size = pool_size
        self._gate = Gate()
        self._last_ok: dict[int, float] = {}  # id(connection) -> when its last transaction ended

    def _check(self, conn: psycopg.Connection[Row]) -> None:
        """The pool's check when it hands out a connection: a round trip, unless the
        connection ended a transaction less than CHECK_IDLE_S ago (if the server went away
        since, the call fails UNAVAILABLE and the pool replaces the connection)."""
        if time.monotonic() - self._last_ok.get(id(conn), -CHECK_IDLE_S) < CHECK_IDLE_S:
            return
        if self._watchdog is None:
            ConnectionPool.check_connection(conn)
            return
        self._watchdog.begin(conn, PING_LIMIT_S)  # a link gone silent must not hang the ping
        try:
            ConnectionPool.check_connection(conn)
        finally:
            self._watchdog.end(conn)

    def _configure(self, conn: psycopg.Connection[Row]) -> None:
        conn.isolation_level = psycopg.IsolationLevel.SERIALIZABLE
        conn.execute("SET synchronous_commit = on")
        if self._bound is not None:
            for name, value in self._bound.settings(conn.info.server_version):
                conn.execute(f"SET {name} = {value}")
        conn.commit()

    def _open(self) -> None:
        try:
            with psycopg.connect(self.url, connect_timeout=CONNECT_TIMEOUT_S) as conn:
                row = None
                if conn.execute("SELECT to_regclass('alembic_version')").fetchone() != (None,):
                    row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            # upgrade() serialises replicas migrating at once (migrate.MIGRATE_LOCK).
            if not check_version(str(row[0]) if row else None, self._migrations):
                upgrade(self.url, self._migrations)
        except psycopg.OperationalError as exc:
            raise ConfigError(f"DATABASE_URL {masked(self.url)}: {_first_line(exc)}") from None
        pool: ConnectionPool[psycopg.Connection[Row]] = ConnectionPool(
            self.url,
            min_size=1,
            max_size=self._pool_size,
            kwargs={
                "row_factory": rows,
                "connect_timeout": CONNECT_TIMEOUT_S,
                **(self._bound.client_params() if self._bound is not None else {}),
            },
            configure=self._configure,
            check=self._check,
            open=False,
            name="flightsaga",
        )
        pool.open(wait=True, timeout=CONNECT_TIMEOUT_S * 2)
        self._pool = pool
        if self._watchdog is not None:
            self._watchdog.start()

    async def open(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self._open)

    def _run(self, fn: Callable[[PgConn], T], write: bool) -> T:
        pool = self._pool
        assert pool is not None, "Database.open() was not awaited"
        for attempt in range(1, MAX_RETRIES + 1):
            alone = attempt > 1  # after a conflict: see Gate
            self._gate.enter(alone)
            try:
                with pool.connection(timeout=POOL_WAIT_S) as conn:
                    done, result = self._once(conn, fn, write, attempt == MAX_RETRIES)
                    if done:
                        return cast(T, result)
            except _RETRY:  # at commit
                if attempt == MAX_RETRIES:
                    # Nothing of it was written, and another try later may well pass.
                    raise _unreachable(_KEPT_CONFLICTING) from None
                log.debug("commit conflicted with a concurrent transaction; running it again")
            except (psycopg.OperationalError, PoolTimeout) as exc:
                raise _unreachable(_first_line(exc)) from None
            finally:
                self._gate.leave(alone)
            time.sleep(random.uniform(0, _backoff_s(attempt)))
        raise AssertionError("unreachable")

    def _once(
        self, conn: psycopg.Connection[Row], fn: Callable[[PgConn], T], write: bool, last: bool
    ) -> tuple[bool, T | None]:
        """One run of fn: (True, its result) once committed, (False, None) to run it again."""
        self._began(conn)
        try:
            try:
                result = fn(PgConn(conn))
            except BaseException as exc:
                if conn.broken and not last and self._ended_by_bound(conn, exc):
                    # The session ended before COMMIT was sent (see SessionBound): nothing was
                    # written. Run it again on a fresh connection, where the fence decides.
                    log.warning("saga log session ended mid-transaction; running it again")
                    return False, None
                # The server aborted the transaction (a statement failed, and the function
                # may have turned that into an answer of its own, e.g. a concurrent insert of
                # the same key seen as "taken"): run it again on a fresh snapshot, where a
                # serial order decides. A conflict that is real shows again, without racing,
                # and its answer stands.
                aborted = conn.info.transaction_status == TransactionStatus.INERROR
                conn.rollback()
                if (aborted or isinstance(exc, _RETRY)) and not last:
                    log.debug("transaction aborted by a conflict; running it again")
                    return False, None
                raise
            if conn.info.transaction_status == TransactionStatus.INERROR:
                conn.rollback()
                raise RuntimeError(
                    "a transaction function went on after a failed statement without"
                    " a savepoint (sagakit.db.savepoint); nothing of it was written"
                )
            if write:
                try:
                    conn.commit()
                except errors.IdleInTransactionSessionTimeout:
                    if last:
                        raise _unreachable(_COMMIT_NEVER_RAN) from None
                    log.warning("saga log session ended before its COMMIT; running it again")
                    return False, None
            else:
                conn.rollback()
            self._last_ok[id(conn)] = time.monotonic()
            return True, result
        finally:
            self._ended(conn)

    def _ended_by_bound(self, conn: psycopg.Connection[Row], exc: BaseException) -> bool:
        """Whether the session ended because of the SessionBound (the server's timeout or the
        watchdog), not because the server went away: only then is running it again useful
        at once (an outage answers UNAVAILABLE without waiting for the pool)."""
        if self._watchdog is None:
            return False
        if id(conn) in self._watchdog.dropped:
            self._watchdog.dropped.discard(id(conn))
            return True
        return isinstance(exc, BOUND_ENDED)

    def _began(self, conn: psycopg.Connection[Row]) -> None:
        if self._watchdog is not None:
            self._watchdog.begin(conn)

    def _ended(self, conn: psycopg.Connection[Row]) -> None:
        if self._watchdog is not None:
            self._watchdog.end(conn)

    def _run_jobs(self, jobs: list[Job]) -> None:
        """On the writer thread (WriteQueue): the jobs in batches, in order (see the class's
        docstring)."""
        i, ended = 0, 0
        while i < len(jobs):
            if i == len(jobs) - 1:
                jobs[i].run(self._run, jobs[i].fn, True)
                i += 1
                continue
            try:
                i = self._batch(jobs, i)
            except _SessionEnded:
                # Nothing of the batch was written: run it again on a fresh connection.
                ended += 1
                if ended < 3:
                    log.warning("saga log session ended mid-transaction; running it again")
                    continue
                self._fail(jobs[i:], "the database ended the session, again and again")
                return
            except (psycopg.Error, PoolTimeout) as exc:  # at BEGIN or COMMIT: not one job's
                self._fail(jobs[i:], _first_line(exc))
                return

    @staticmethod
    def _fail(jobs: list[Job], why: str) -> None:
        error = _unreachable(why)
        for job in jobs:
            job.result, job.error = None, error

    def _batch(self, jobs: list[Job], start: int) -> int:
        """jobs[start:] in one transaction; returns the index of the next job to run.

        No savepoint per job (two round trips each): jobs rarely fail, so a batch is run
        optimistically. When job k raises or spoils the transaction, the batch is rolled back
        and the jobs before k, which ran fine a moment ago, run again as one batch; k then runs
        alone (its own error, or a fresh snapshot), and the caller goes on after it."""
        failed = self._try(jobs, start, len(jobs))
        if failed is None:
            return len(jobs)
        if failed > start and self._try(jobs, start, failed) is not None:
            for job in jobs[start:failed]:  # changed meanwhile: one at a time, in order
                job.run(self._run, job.fn, True)
        jobs[failed].run(self._run, jobs[failed].fn, True)
        return failed + 1

    def _try(self, jobs: list[Job], start: int, stop: int) -> int | None:
        """jobs[start:stop] in one transaction, committed if every one of them succeeded:
        None. Otherwise nothing is written, and the index of the first job that failed (or
        `start` when the COMMIT conflicted) is returned; _SessionEnded if the connection
        broke before the COMMIT."""
        pool = self._pool
        assert pool is not None, "Database.open() was not awaited"
        self._gate.enter(False)
        try:
            with pool.connection(timeout=POOL_WAIT_S) as conn:
                self._began(conn)
                try:
                    return self._try_on(conn, jobs, start, stop)
                finally:
                    self._ended(conn)
        finally:
            self._gate.leave(False)

    def _try_on(
        self, conn: psycopg.Connection[Row], jobs: list[Job], start: int, stop: int
    ) -> int | None:
        pg = PgConn(conn)
        for k in range(start, stop):
            job = jobs[k]
            job.run(job.fn, pg)
            if conn.broken and job.error is not None and self._ended_by_bound(conn, job.error):
                raise _SessionEnded
            if job.error is not None or (conn.info.transaction_status == TransactionStatus.INERROR):
                conn.rollback()
                return k
        try:
            conn.commit()
        except _RETRY:
            conn.rollback()
            return start
        except errors.IdleInTransactionSessionTimeout:
            raise _SessionEnded from None
        self._last_ok[id(conn)] = time.monotonic()
        return None

    def submit(self, fn: Callable[[Any], T]) -> asyncio.Future[T]:
        return self._writes.submit(fn)

    async def transaction(self, fn: Callable[[Any], T]) -> T:
        return await self.submit(fn)

    async def read(self, fn: Callable[[Any], T]) -> T:
        ctx = contextvars.copy_context()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, ctx.run, self._run, fn, False)

    async def close(self) -> None:
        def _close() -> None:
            self._writer.shutdown(wait=True)  # queued writes first
            if self._watchdog is not None:
                self._watchdog.stop()
            if self._pool is not None:
                self._pool.close()
                self._pool = None

        await asyncio.get_running_loop().run_in_executor(self._executor, _close)
        self._executor.shutdown(wait=True)


def _backoff_s(attempt: int) -> float:
    """The most a run waits after its `attempt`-th conflict: doubling from 2 ms to 50 ms, so
    that a transaction conflicting with a burst of others (replicas starting sagas at once on
    a small table share its index pages) waits for the burst to pass; about 0.4 s over all
    twenty runs on average."""
    return min(0.05, 0.001 * (1 << attempt))


def _unreachable(why: str) -> Unreachable:
    return Unreachable(f"database unavailable: {why}", Reason.DATABASE_UNAVAILABLE)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
