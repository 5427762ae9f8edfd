"""The idempotency barrier (DTM's sub-transaction barrier, Seata's TCC fence).

Runs inside the participant's business transaction, so the mark and the change commit together:
- a repeated Do returns the first result and changes nothing;
- a repeated Compensate returns the first result and changes nothing;
- a Compensate with no prior Do changes nothing and leaves a `null` mark;
- a Do after its Compensate (a late, hanging request) is refused with ABORTED;
- a Do with another request body than the first for the same saga is refused with ABORTED.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sagakit.db import Conn
from sagakit.errors import Aborted, Reason

# The barrier's table as release 0.1.0 made it: every participant's baseline migration creates
# it. Frozen: a change to the barrier's table is a new revision in each participant's chain.
BASELINE_DDL = """
CREATE TABLE IF NOT EXISTS saga_barrier (
    saga_id TEXT NOT NULL,
    step TEXT NOT NULL,
    op TEXT NOT NULL CHECK (op IN ('do', 'compensate')),
    result BLOB NOT NULL,
    null_compensation INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    PRIMARY KEY (saga_id, step, op)
);
"""


# Retention finds old marks by age (every participant's second barrier revision adds it).
CREATED_INDEX_DDL = """
CREATE INDEX IF NOT EXISTS saga_barrier_created ON saga_barrier (created_at);
"""
# The digest of the first Do's request, so a Do with another body for the same saga is refused
# (every participant's barrier revision after the age index adds it; NULL on older marks).
DIGEST_DDL = """
ALTER TABLE saga_barrier ADD COLUMN request_digest TEXT;
"""
# The PostgreSQL advisory lock a replica holds while it prunes (other replicas skip a turn).
PRUNE_LOCK = 0x466C5362  # "FlSb"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _marks(conn: Conn, saga_id: str, step: str) -> dict[str, Any]:
    """The step's barrier rows for the saga by op ("do", "compensate"): one read for both
    (on PostgreSQL, one round trip)."""
    rows = conn.execute(
        "SELECT op, result, null_compensation, request_digest FROM saga_barrier"
        " WHERE saga_id=? AND step=?",
        (saga_id, step),
    ).fetchall()
    return {row["op"]: row for row in rows}


def _insert(
    conn: Conn,
    saga_id: str,
    step: str,
    op: str,
    result: bytes,
    null: bool = False,
    request_digest: str | None = None,
) -> None:
    conn.execute(
        "INSERT INTO saga_barrier"
        " (saga_id, step, op, result, null_compensation, created_at, request_digest)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (saga_id, step, op, result, int(null), now_iso(), request_digest),
    )


def do(
    conn: Conn, saga_id: str, step: str, body: bytes, apply: Callable[[], bytes]
) -> tuple[bytes, bool]:
    """Run `apply` once per (saga, step) for the request `body` (serialized deterministically);
    returns (serialized result, was_replay)."""
    marks = _marks(conn, saga_id, step)
    if "compensate" in marks:
        raise Aborted(
            f"saga {saga_id} was already compensated at {step}; late Do refused",
            Reason.LATE_DO_REFUSED,
        )
    first = marks.get("do")
    if first is not None:
        stored = first["request_digest"]
        if stored is not None and stored != digest(body):
            raise Aborted(
                f"saga {saga_id} already ran {step} with another request; this Do is refused",
                Reason.DO_REQUEST_MISMATCH,
            )
        return bytes(first["result"]), True
    result = apply()
    _insert(conn, saga_id, step, "do", result, request_digest=digest(body))
    return result, False


def compensate(
    conn: Conn,
    saga_id: str,
    step: str,
    undo: Callable[[], bytes],
    null_result: Callable[[], bytes],
) -> tuple[bytes, bool]:
    """Undo once per (saga, step); with no Do, leave a null mark. Returns (result, replay)."""
    marks = _marks(conn, saga_id, step)
    first = marks.get("compensate")
    if first is not None:
        return bytes(first["result"]), True
    if "do" not in marks:
        result = null_result()
        _insert(conn, saga_id, step, "compensate", result, null=True)
        return result, False
    result = undo()
    _insert(conn, saga_id, step, "compensate", result)
    return result, False


def marks(conn: Conn, saga_id: str) -> list[dict[str, object]]:
    """The barrier marks of one saga, one dict per step: for the read RPCs."""
    by_step: dict[str, dict[str, object]] = {}
    for row in rows(conn, saga_id):
        mark = by_step.setdefault(row["step"], {"step": row["step"]})
        if row["op"] == "do":
            mark["do_at"] = row["created_at"]
        else:
            mark["compensated_at"] = row["created_at"]
            mark["null_compensation"] = bool(row["null_compensation"])
    return list(by_step.values())


def rows(conn: Conn, saga_id: str) -> list[dict[str, Any]]:
    """The barrier rows of one saga, oldest first: step, op, null_compensation, created_at."""
    found = conn.execute(
        "SELECT step, op, null_compensation, created_at FROM saga_barrier WHERE saga_id=?"
        " ORDER BY created_at",
        (saga_id,),
    ).fetchall()
    return [
        {
            "step": r["step"],
            "op": r["op"],
            "null_compensation": bool(r["null_compensation"]),
            "created_at": r["created_at"],
        }
        for r in found
    ]


def prune(conn: Conn, before: str, limit: int, shared: bool = False) -> int | None:
    """Retention: delete up to `limit` marks written before `before` (ISO, UTC), oldest first.
    Safe because no call comes for a saga that old (sagakit.config.RetentionConfig: the
    orchestrator stops such sagas instead). `shared` (PostgreSQL, replicas): None when another
    replica is pruning right now."""
    if shared:
        got = conn.execute("SELECT pg_try_advisory_xact_lock(?)", (PRUNE_LOCK,)).fetchone()
        if not got[0]:
            return None
    old = conn.execute(
        "SELECT saga_id, step, op FROM saga_barrier WHERE created_at < ?"
        " ORDER BY created_at LIMIT ?",
        (before, limit),
    ).fetchall()
    conn.executemany(
        "DELETE FROM saga_barrier WHERE saga_id=? AND step=? AND op=?",
        [(r[0], r[1], r[2]) for r in old],
    )
    return len(old)
