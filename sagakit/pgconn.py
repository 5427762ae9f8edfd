"""The Conn protocol (sagakit.db) over a psycopg connection: rows readable by name like
sqlite3.Row, `?` placeholders, prepared statements, and executemany one statement per row."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import psycopg
from psycopg.rows import RowMaker


class Row(tuple[Any, ...]):
    """A row readable by position and by column name, like sqlite3.Row."""

    _index: dict[str, int]

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


def rows(cursor: psycopg.Cursor[Any]) -> RowMaker[Row]:
    """psycopg's row factory for Row (ConnectionPool kwargs `row_factory`)."""
    names = [c.name for c in cursor.description or ()]
    index = {n: i for i, n in enumerate(names)}

    def make(values: Sequence[Any]) -> Row:
        row = Row(values)
        row._index = index
        return row

    return make


@lru_cache(maxsize=1024)
def _sql(sql: str) -> str:
    """`?` placeholders (both backends' spelling in our code) as psycopg's `%s`."""
    return sql.replace("%", "%%").replace("?", "%s")


@dataclass(frozen=True)
class _Many:
    """executemany's answer: how many rows its statements changed in all."""

    rowcount: int

    def fetchone(self) -> Any:
        return None

    def fetchall(self) -> list[Any]:
        return []

    def __iter__(self) -> Iterator[Any]:
        return iter(())


class PgConn:
    """The Conn protocol over a psycopg connection."""

    def __init__(self, conn: psycopg.Connection[Row]) -> None:
        self._conn = conn

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> psycopg.Cursor[Row]:
        return self._conn.execute(_sql(sql), parameters, prepare=True)

    def executemany(self, sql: str, seq_of_parameters: Iterable[Sequence[Any]], /) -> _Many:
        """One statement per row, not psycopg's pipelined executemany: a pipeline ends with
        a Flush, after which PostgreSQL's idle_in_transaction_session_timeout stays disarmed
        until the next statement, so a process paused right there would keep its row locks
        (SessionBound) for as long as it stays paused."""
        query, count = _sql(sql), 0
        for parameters in seq_of_parameters:
            count += max(0, self._conn.execute(query, parameters, prepare=True).rowcount)
        return _Many(count)

    def __iter__(self) -> Iterator[Any]:  # pragma: no cover - not a cursor
        raise TypeError("iterate over execute()'s cursor")
