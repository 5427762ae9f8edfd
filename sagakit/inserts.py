"""Rows for several tables in one statement: on PostgreSQL each statement is a round trip that
the writer thread waits for, so a transaction's inserts go as one statement (data-modifying
WITH clauses, multi-row VALUES), and a guarded write (an UPDATE or INSERT that must write one
row before the others may be inserted) goes as one statement too. SQLite runs in this process: a
statement per table there costs no round trip, and its WITH does not take an INSERT.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from sagakit.db import Conn

Rows = Sequence[Sequence[object]]


@dataclass(frozen=True)
class Insert:
    """`INSERT INTO <into> VALUES (...), ... <tail>`: `into` names the table and its columns;
    `tail` may be an ON CONFLICT clause (no two rows of one statement may then share a key)."""

    into: str
    width: int
    tail: str = ""

    def sql(self, rows: int) -> str:
        return _statement(self, rows)

    def sql_if(self, rows: int, guard: str) -> str:
        """The same rows, inserted only if the WITH query `guard` returned a row. The VALUES
        list is then a SELECT's: PostgreSQL types its columns apart from the table's (an
        untyped parameter is text), which the INSERT takes as long as integer columns get
        ints and only text columns are NULL in every row (true of the saga log's tables)."""
        return _guarded(self, rows, guard)


@lru_cache(maxsize=256)
def _statement(insert: Insert, rows: int) -> str:
    one = "(" + ",".join("?" * insert.width) + ")"
    tail = f" {insert.tail}" if insert.tail else ""
    return f"INSERT INTO {insert.into} VALUES {','.join([one] * rows)}{tail}"


@lru_cache(maxsize=256)
def _guarded(insert: Insert, rows: int, guard: str) -> str:
    one = "(" + ",".join("?" * insert.width) + ")"
    tail = f" {insert.tail}" if insert.tail else ""
    return (
        f"INSERT INTO {insert.into} SELECT * FROM (VALUES {','.join([one] * rows)}) AS v"
        f" WHERE EXISTS (SELECT 1 FROM {guard}){tail}"
    )


@lru_cache(maxsize=256)
def _guarded_all(guard: str, shape: tuple[tuple[Insert, int], ...]) -> str:
    ctes = "".join(f", w{k} AS ({insert.sql_if(n, 'g')})" for k, (insert, n) in enumerate(shape))
    return f"WITH g AS ({guard} RETURNING 1){ctes} SELECT count(*) FROM g"


@lru_cache(maxsize=256)
def _combined(shape: tuple[tuple[Insert, int], ...]) -> str:
    *first, (last, rows) = shape
    ctes = ", ".join(f"w{k} AS ({insert.sql(n)})" for k, (insert, n) in enumerate(first))
    return (f"WITH {ctes} " if ctes else "") + last.sql(rows)


def insert_all(conn: Conn, parts: Sequence[tuple[Insert, Rows]]) -> None:
    """Insert every part's rows, in one statement unless `conn` is SQLite's."""
    parts = [(insert, rows) for insert, rows in parts if rows]
    if not parts:
        return
    if isinstance(conn, sqlite3.Connection):
        for insert, rows in parts:
            conn.executemany(insert.sql(1), rows)
        return
    shape = tuple((insert, len(rows)) for insert, rows in parts)
    conn.execute(_combined(shape), [v for _, rows in parts for row in rows for v in row])


def guarded_insert(
    conn: Conn,
    guard: str,
    arguments: Sequence[object],
    parts: Sequence[tuple[Insert, Rows]],
) -> bool:
    """Run `guard`, an UPDATE or INSERT of at most one row; only if it wrote one, insert every
    part's rows. Whether it did. On PostgreSQL this is one statement (one round trip): the
    inserts select from the guard's RETURNING, so when it wrote nothing they insert nothing."""
    parts = [(insert, rows) for insert, rows in parts if rows]
    if isinstance(conn, sqlite3.Connection) or not parts:
        if conn.execute(guard, arguments).rowcount != 1:
            return False
        insert_all(conn, parts)
        return True
    shape = tuple((insert, len(rows)) for insert, rows in parts)
    values = [v for _, rows in parts for row in rows for v in row]
    found = conn.execute(_guarded_all(guard, shape), [*arguments, *values]).fetchone()
    return found is not None and found[0] == 1
