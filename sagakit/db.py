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
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
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


def connect(url: str, schema: Migrations | str, synchronous: str = "FULL") -> Database:
    """The database at DATABASE_URL `url` (not opened yet)."""
    if is_postgres(url):
        from sagakit.postgres_db import PostgresDatabase

        if not isinstance(schema, Migrations):
            raise TypeError("a PostgreSQL database is set up by migrations")
        return PostgresDatabase(url, schema)
    from sagakit.sqlite_db import SqliteDatabase

    return SqliteDatabase(sqlite_file(url), schema, synchronous)
