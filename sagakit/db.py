"""What a service's database is, whichever the backend (SQLite or PostgreSQL).

Transaction functions are plain synchronous functions of a connection (`Conn`), in SQL both
dialects accept (`?` placeholders; rows indexable by name and by position). One runs whole or
not at all and sees every transaction committed before it, as if they ran one at a time; on
PostgreSQL it may run again after a conflict, so it must have no effect outside the database
until it returns. `sagakit.databases.connect` picks the backend.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

import psycopg

T = TypeVar("T")

# A constraint caught a conflict: the one exception both backends raise for it.
IntegrityError = (sqlite3.IntegrityError, psycopg.IntegrityError)


class DatabaseUnavailable(Exception):
    """The database could not be reached or ended the session: nothing of the transaction was
    written, or whether it was is unknown (a lost COMMIT). What a backend raises is also a
    gRPC UNAVAILABLE for services that let it through (postgres_db.Unreachable)."""


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
