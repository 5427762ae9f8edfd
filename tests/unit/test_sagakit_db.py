"""sagakit.db: work on the database thread still sees the request's context (log ids)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from sagakit import context
from sagakit.sqlite_db import SqliteDatabase as Database


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


async def test_concurrent_transactions_commit_together_and_fail_alone(tmp_path: Path) -> None:
    db = Database(tmp_path / "t.db", "CREATE TABLE t (x INTEGER);")
    await db.open()
    commits: list[str] = []
    try:
        assert db._conn is not None
        db._conn.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)

        def insert(i: int) -> Callable[[sqlite3.Connection], int]:
            def fn(conn: sqlite3.Connection) -> int:
                conn.execute("INSERT INTO t VALUES (?)", (i,))
                if i % 7 == 3:
                    raise ValueError(f"job {i} failed")
                return i * 10

            return fn

        results = await asyncio.gather(
            *(db.transaction(insert(i)) for i in range(50)),
            return_exceptions=True,
        )
        for i, r in enumerate(results):
            if i % 7 == 3:
                assert isinstance(r, ValueError) and str(r) == f"job {i} failed"
            else:
                assert r == i * 10
        rows = await db.read(lambda c: [x for (x,) in c.execute("SELECT x FROM t ORDER BY x")])
        assert rows == [i for i in range(50) if i % 7 != 3]  # each failure rolled back alone
        assert 1 <= len(commits) < 50  # callers queued behind a busy thread shared commits
    finally:
        await db.close()


async def test_a_read_after_a_transaction_sees_it(tmp_path: Path) -> None:
    db = Database(tmp_path / "t.db", "CREATE TABLE t (x INTEGER);")
    await db.open()
    try:
        write = asyncio.ensure_future(
            db.transaction(lambda c: c.execute("INSERT INTO t VALUES (1)"))
        )
        await asyncio.sleep(0)  # the write is queued, not yet awaited
        count = await db.read(lambda c: c.execute("SELECT COUNT(*) FROM t").fetchone()[0])
        assert count == 1
        await write
    finally:
        await db.close()


async def test_a_second_process_on_the_same_file_is_refused(tmp_path: Path) -> None:
    """One process per SQLite file: a second one (here a second open) names the holder."""
    from sagakit.config import ConfigError

    first = Database(tmp_path / "t.db", "CREATE TABLE IF NOT EXISTS t (x INTEGER);")
    await first.open()
    second = Database(tmp_path / "t.db", "CREATE TABLE IF NOT EXISTS t (x INTEGER);")
    with pytest.raises(ConfigError) as info:
        await second.open()
    message = str(info.value)
    assert message.startswith("DATABASE_URL") and f"pid {os.getpid()}" in message
    await second.close()  # its thread; it holds no lock
    await first.close()
    third = Database(tmp_path / "t.db", "CREATE TABLE IF NOT EXISTS t (x INTEGER);")
    await third.open()  # the first one is gone: free again
    await third.close()
