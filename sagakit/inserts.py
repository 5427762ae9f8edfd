"""Rows for several tables in one statement: on PostgreSQL each statement is a round trip that
the writer thread waits for, so a transaction's inserts go as one statement (data-modifying
WITH clauses, multi-row VALUES). SQLite runs in this process: a statement per table there
costs no round trip, and its WITH does not take an INSERT.
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


@lru_cache(maxsize=256)
def _statement(insert: Insert, rows: int) -> str:
    one = "(" + ",".join("?" * insert.width) + ")"
    tail = f" {insert.tail}" if insert.tail else ""
    return f"INSERT INTO {insert.into} VALUES {','.join([one] * rows)}{tail}"


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
