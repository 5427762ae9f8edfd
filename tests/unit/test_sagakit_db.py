"""sagakit.db: work on the database thread still sees the request's context (log ids)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sagakit import context
from sagakit.db import Database


async def test_transactions_see_the_callers_correlation_and_saga_id(tmp_path: Path) -> None:
    db = Database(tmp_path / "t.db", "CREATE TABLE t (x INTEGER);")
    await db.open()
    try:
        context.correlation_id.set("cid-42")
        context.saga_id.set("saga-7")

        def seen(_: sqlite3.Connection) -> tuple[str, str]:
            return context.correlation_id.get(), context.saga_id.get()

        assert await db.transaction(seen) == ("cid-42", "saga-7")
        assert await db.read(seen) == ("cid-42", "saga-7")
    finally:
        await db.close()


async def test_a_failing_transaction_rolls_back(tmp_path: Path) -> None:
    db = Database(tmp_path / "t.db", "CREATE TABLE t (x INTEGER);")
    await db.open()
    try:

        def half(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO t VALUES (1)")
            raise ValueError("second half failed")

        with pytest.raises(ValueError):
            await db.transaction(half)
        count = await db.read(lambda c: c.execute("SELECT COUNT(*) FROM t").fetchone()[0])
        assert count == 0
    finally:
        await db.close()
