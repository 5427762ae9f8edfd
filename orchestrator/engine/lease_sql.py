"""The saga log's lease rows: claiming live sagas nobody holds, taking one, renewing,
expiring and releasing. Each function runs inside the caller's transaction or read.

A lease is a saga_leases row (owner, expires in seconds since the epoch) plus the saga's
lease_epoch, which grows with every claim. Renewals write saga_leases rows only, so they never
conflict with transitions (PostgreSQL would make one of two writers of a row start over).
"""

from __future__ import annotations

from collections.abc import Sequence

from orchestrator.engine.counts import LIVE_MARKS, LIVE_VALUES
from orchestrator.engine.model import SagaRecord
from orchestrator.engine.rows import load
from sagakit.db import Conn
from sagakit.inserts import Insert

LEASES = Insert(
    "saga_leases (saga_id, owner, epoch, expires)",
    4,
    "ON CONFLICT (saga_id) DO UPDATE SET owner=excluded.owner, epoch=excluded.epoch,"
    " expires=excluded.expires",
)
LEASE = LEASES.sql(1)


def claimable(now: float, limit: int, shared: bool) -> tuple[str, tuple[object, ...]]:
    """The query (and its arguments) that picks live sagas whose lease is free by `now`;
    `shared`: lock the picked rows, skipping those another claimer has locked."""
    pick = (
        f"SELECT s.saga_id FROM sagas s LEFT JOIN saga_leases l ON l.saga_id = s.saga_id"
        f" WHERE s.status IN ({LIVE_MARKS})"
        " AND (l.saga_id IS NULL OR l.expires < ?)"
        " ORDER BY s.created_at LIMIT ?"
    )
    if shared:
        pick += " FOR UPDATE OF s SKIP LOCKED"
    return pick, (*LIVE_VALUES, now, limit)


def take(conn: Conn, ids: list[str], owner: str, expires: float) -> list[SagaRecord]:
    """Bump these sagas' lease epochs (fencing off any holder) and lease them to `owner`."""
    if not ids:
        return []
    conn.executemany(
        "UPDATE sagas SET lease_epoch=lease_epoch+1 WHERE saga_id=?", [(i,) for i in ids]
    )
    sagas = load(conn, f"saga_id IN ({','.join('?' * len(ids))})", ids)
    conn.executemany(LEASE, [(s.saga_id, owner, s.lease_epoch, expires) for s in sagas])
    return sagas


def renew(
    conn: Conn,
    owner: str,
    leases: dict[str, int],
    expires: float,
    ended: Sequence[tuple[str, int]],
) -> set[str]:
    held: set[str] = set()
    ids = list(leases)
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        rows = conn.execute(
            "UPDATE saga_leases SET expires=? WHERE owner=?"
            f" AND saga_id IN ({','.join('?' * len(chunk))}) RETURNING saga_id, epoch",
            (expires, owner, *chunk),
        ).fetchall()
        held.update(r[0] for r in rows if leases.get(r[0]) == r[1])
    conn.executemany(
        "DELETE FROM saga_leases WHERE saga_id=? AND owner=? AND epoch=?",
        [(i, owner, epoch) for i, epoch in ended],
    )
    return held


def expire(conn: Conn, owner: str | None) -> int:
    if owner is None:
        return int(conn.execute("UPDATE saga_leases SET expires=0").rowcount)
    return int(conn.execute("UPDATE saga_leases SET expires=0 WHERE owner=?", (owner,)).rowcount)


def release(conn: Conn, owner: str, saga_ids: Sequence[str]) -> None:
    conn.executemany(
        "DELETE FROM saga_leases WHERE saga_id=? AND owner=?",
        [(i, owner) for i in saga_ids],
    )


def holder(conn: Conn, saga_id: str) -> tuple[str, float] | None:
    row = conn.execute("SELECT owner, expires FROM saga_leases WHERE saga_id=?", (saga_id,))
    found = row.fetchone()
    return (found[0], float(found[1])) if found else None
