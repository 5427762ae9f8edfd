"""Reads of the saga log for its watchers and lists: pages of sagas, a saga's events."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.engine.counts import total
from orchestrator.engine.model import SagaEvent, SagaRecord, SagaStatus
from orchestrator.engine.rows import event_from, load
from sagakit.db import Conn


@dataclass(frozen=True)
class Page:
    sagas: list[SagaRecord]
    total: int
    # Where the next page starts: the last saga's (created_at, saga_id), or None at the end.
    after: tuple[str, str] | None


def page(conn: Conn, status: SagaStatus | None, limit: int, after: tuple[str, str] | None) -> Page:
    where, args = ("status=?", [status.value]) if status else ("1=1", [])
    count = total(conn, status)
    if after is not None:
        # A row value: one range on the keyset index (an OR of two made SQLite sort every
        # saga before the page).
        where += " AND (created_at, saga_id) < (?, ?)"
        args = [*args, after[0], after[1]]
    sagas = load(
        conn,
        f"{where} ORDER BY created_at DESC, saga_id DESC LIMIT ?",
        [*args, limit + 1],
    )
    more = len(sagas) > limit
    sagas = sagas[:limit]
    last = (sagas[-1].created_at, sagas[-1].saga_id) if more else None
    return Page(sagas, int(count), last)


def events(conn: Conn, saga_id: str, after_seq: int) -> list[SagaEvent]:
    rows = conn.execute(
        "SELECT * FROM saga_events WHERE saga_id=? AND seq>? ORDER BY seq",
        (saga_id, after_seq),
    ).fetchall()
    return [event_from(r) for r in rows]
