"""The idempotency barrier on an in-memory SQLite connection, one transaction per call."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator

import pytest

from sagakit import barrier
from sagakit.errors import Aborted


@pytest.fixture
def conn() -> Iterator[sqlite3.Connection]:
    c = sqlite3.connect(":memory:", isolation_level=None)
    c.row_factory = sqlite3.Row
    c.executescript(
        barrier.BASELINE_DDL
        + barrier.DIGEST_DDL
        + "CREATE TABLE effects (saga_id TEXT, what TEXT);"
    )
    yield c
    c.close()


def effect(conn: sqlite3.Connection, saga_id: str, what: str) -> Callable[[], bytes]:
    def run() -> bytes:
        conn.execute("INSERT INTO effects VALUES (?, ?)", (saga_id, what))
        return f"{what}:{saga_id}".encode()

    return run


def effects(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    return [tuple(r) for r in conn.execute("SELECT saga_id, what FROM effects")]


def tx(conn: sqlite3.Connection, fn: Callable[[], tuple[bytes, bool]]) -> tuple[bytes, bool]:
    """What sagakit.db does: the mark and the effect commit together, or neither does."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        out = fn()
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return out


def do(
    conn: sqlite3.Connection, saga: str, what: str = "do", body: bytes = b"request"
) -> tuple[bytes, bool]:
    return tx(conn, lambda: barrier.do(conn, saga, "step", body, effect(conn, saga, what)))


def compensate(conn: sqlite3.Connection, saga: str) -> tuple[bytes, bool]:
    return tx(
        conn,
        lambda: barrier.compensate(conn, saga, "step", effect(conn, saga, "undo"), lambda: b"null"),
    )


def test_do_runs_once_and_replays_its_first_result(conn: sqlite3.Connection) -> None:
    assert do(conn, "s1") == (b"do:s1", False)
    assert do(conn, "s1", what="other") == (b"do:s1", True)
    assert effects(conn) == [("s1", "do")]


def test_a_do_with_another_request_for_the_same_saga_is_refused(
    conn: sqlite3.Connection,
) -> None:
    do(conn, "s1")
    with pytest.raises(Aborted, match="another request"):
        do(conn, "s1", what="other", body=b"another request")
    assert effects(conn) == [("s1", "do")]


def test_compensate_runs_once(conn: sqlite3.Connection) -> None:
    do(conn, "s1")
    assert compensate(conn, "s1") == (b"undo:s1", False)
    assert compensate(conn, "s1") == (b"undo:s1", True)
    assert effects(conn) == [("s1", "do"), ("s1", "undo")]


def test_null_compensation_leaves_a_mark_and_blocks_a_late_do(conn: sqlite3.Connection) -> None:
    assert compensate(conn, "s1") == (b"null", False)
    with pytest.raises(Aborted, match="late Do refused"):
        do(conn, "s1")
    assert effects(conn) == []
    (mark,) = barrier.marks(conn, "s1")
    assert mark["null_compensation"] is True and "do_at" not in mark


def test_a_failing_do_leaves_no_mark(conn: sqlite3.Connection) -> None:
    def boom() -> bytes:
        conn.execute("INSERT INTO effects VALUES ('s1', 'half')")
        raise RuntimeError("sold out")

    with pytest.raises(RuntimeError):
        tx(conn, lambda: barrier.do(conn, "s1", "step", b"request", boom))
    assert effects(conn) == [] and barrier.marks(conn, "s1") == []
    assert do(conn, "s1") == (b"do:s1", False)  # a later attempt still runs


def test_marks_are_per_saga_and_step(conn: sqlite3.Connection) -> None:
    do(conn, "s1")
    compensate(conn, "s1")
    do(conn, "s2")
    (m1,) = barrier.marks(conn, "s1")
    assert m1["step"] == "step" and "do_at" in m1 and m1["null_compensation"] is False
    (m2,) = barrier.marks(conn, "s2")
    assert "compensated_at" not in m2
