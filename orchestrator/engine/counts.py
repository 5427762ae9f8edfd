"""Counts and retention in the saga log, without scanning the finished sagas.

A finished saga adds itself to saga_counts in the transaction that finishes it, on one of
STRIPES rows per key picked by the replica's name (so only replicas whose names share a stripe
ever meet on a row); live and FAILED sagas are counted from themselves through the status
index. Retention deletes finished sagas in small batches and takes them off the counts.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from orchestrator.engine.model import FINISHED, LIVE, NEEDS_COMPENSATION, SagaRecord, SagaStatus
from sagakit.db import Conn
from sagakit.inserts import Insert

LIVE_MARKS = ",".join("?" * len(LIVE))
LIVE_VALUES = tuple(s.value for s in LIVE)
# Sagas counted from themselves (not in saga_counts): few, found through the status index.
_UNFINISHED = tuple(s.value for s in SagaStatus if s not in FINISHED)
_UNFINISHED_MARKS = ",".join("?" * len(_UNFINISHED))
_FINISHED_VALUES = tuple(sorted(s.value for s in FINISHED))
_OWES = frozenset(s.value for s in NEEDS_COMPENSATION)
_OWES_IN = (SagaStatus.COMPENSATING.value, SagaStatus.FAILED.value)

STRIPES = 64  # rows per key in saga_counts that finishing sagas add to
PRUNE_STRIPE = -1  # the row retention takes deleted sagas off (one pruner at a time)
# The PostgreSQL advisory lock a replica holds while it prunes (others skip their turn).
PRUNE_LOCK = 0x466C5370  # "FlSp"
COUNTS = Insert(
    "saga_counts (stripe, key, n)",
    3,
    "ON CONFLICT (stripe, key) DO UPDATE SET n = saga_counts.n + excluded.n",
)
COUNT = COUNTS.sql(1)


@dataclass(frozen=True)
class Pruned:
    """One retention batch: how many sagas went, how many of them a bookings log never got
    (their outbox rows were still there), what they counted for (SagaStore.stats keys), and
    how many ended bulk jobs went with them (SagaStore.prune)."""

    sagas: int
    never_logged: int
    counts: Counter[str]
    jobs: int = 0


def finished_counts(saga: SagaRecord, stripe: int) -> list[tuple[int, str, int]]:
    """What a saga that has just finished adds to saga_counts: its status and its steps'."""
    keys = Counter({saga.status.value: 1})
    keys.update(f"all:{st.state.value}" for st in saga.steps)
    return [(stripe, k, n) for k, n in keys.items()]


def stats(conn: Conn) -> dict[str, int]:
    out = {s.value: 0 for s in SagaStatus}
    for key, n in conn.execute("SELECT key, SUM(n) FROM saga_counts GROUP BY key"):
        out[key] = out.get(key, 0) + int(n)
    out["compensations_pending"] = 0
    for status, state, uncertain, n in conn.execute(
        "SELECT s.status, st.state, st.uncertain, COUNT(*) FROM sagas s"
        " JOIN saga_steps st ON st.saga_id = s.saga_id"
        f" WHERE s.status IN ({_UNFINISHED_MARKS}) GROUP BY s.status, st.state, st.uncertain",
        _UNFINISHED,
    ):
        out[f"all:{state}"] = out.get(f"all:{state}", 0) + n
        if status in LIVE_VALUES:
            out[f"live:{state}"] = out.get(f"live:{state}", 0) + n
        if status in _OWES_IN and (state in _OWES or (state == "STEP_FAILED" and uncertain)):
            out["compensations_pending"] += n
    for status, n in conn.execute(
        f"SELECT status, COUNT(*) FROM sagas WHERE status IN ({_UNFINISHED_MARKS}) GROUP BY status",
        _UNFINISHED,
    ):
        out[status] = n
    return out


def total(conn: Conn, status: SagaStatus | None) -> int:
    """How many sagas (of `status`) the log holds, without scanning the finished ones."""
    finished = [s for s in _FINISHED_VALUES if status is None or status.value == s]
    n = 0
    if finished:
        row = conn.execute(
            f"SELECT SUM(n) FROM saga_counts WHERE key IN ({','.join('?' * len(finished))})",
            finished,
        ).fetchone()
        n += int(row[0] or 0)
    unfinished = [s for s in _UNFINISHED if status is None or status.value == s]
    if unfinished:
        row = conn.execute(
            f"SELECT COUNT(*) FROM sagas WHERE status IN ({','.join('?' * len(unfinished))})",
            unfinished,
        ).fetchone()
        n += int(row[0])
    return n


def prune(conn: Conn, finished_before: str, limit: int, shared: bool) -> Pruned | None:
    """One retention batch in the caller's transaction (SagaStore.prune)."""
    if shared:
        got = conn.execute("SELECT pg_try_advisory_xact_lock(?)", (PRUNE_LOCK,))
        if not got.fetchone()[0]:
            return None
    ids = _prunable(conn, finished_before, limit)
    if not ids:
        return Pruned(0, 0, Counter())
    marks = ",".join("?" * len(ids))
    gone: Counter[str] = Counter()
    for key, n in conn.execute(
        f"SELECT status, COUNT(*) FROM sagas WHERE saga_id IN ({marks}) GROUP BY status",
        ids,
    ):
        gone[key] += n
    for state, n in conn.execute(
        f"SELECT state, COUNT(*) FROM saga_steps WHERE saga_id IN ({marks}) GROUP BY state",
        ids,
    ):
        gone[f"all:{state}"] += n
    conn.executemany(COUNT, [(PRUNE_STRIPE, k, -n) for k, n in gone.items()])
    undelivered = conn.execute(f"DELETE FROM saga_outbox WHERE saga_id IN ({marks})", ids)
    outbox = max(0, undelivered.rowcount)
    tables = ("saga_events", "saga_steps", "saga_leases", "saga_flights", "bulk_job_sagas", "sagas")
    for table in tables:
        conn.execute(f"DELETE FROM {table} WHERE saga_id IN ({marks})", ids)
    return Pruned(len(ids), outbox, gone)


def _prunable(conn: Conn, finished_before: str, limit: int) -> list[str]:
    ids: list[str] = []
    for status in _FINISHED_VALUES:
        # finished_at >= created_at: the range on the status index bounds the scan.
        ids += [
            r[0]
            for r in conn.execute(
                "SELECT saga_id FROM sagas WHERE status=? AND created_at < ?"
                " AND finished_at < ? ORDER BY created_at LIMIT ?",
                (status, finished_before, finished_before, limit - len(ids)),
            )
        ]
        if len(ids) >= limit:
            break
    return ids
