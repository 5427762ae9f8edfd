"""Reads of the saga log for its watchers and lists: pages of sagas, a saga's events."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.engine.model import SagaEvent, SagaRecord
from orchestrator.engine.rows import event_from, load
from orchestrator.engine.saga_query import Key, SagaQuery, count, keys
from sagakit.db import Conn


@dataclass(frozen=True)
class Page:
    sagas: list[SagaRecord]
    total: int
    total_capped: bool  # more than `total` match (counting stopped at saga_query.COUNT_CAP)
    # Where the next page starts: the last saga's (created_at, saga_id), or None at the end.
    after: Key | None


def page(conn: Conn, query: SagaQuery, limit: int, after: Key | None) -> Page:
    found = keys(conn, query, after, limit + 1)
    more = len(found) > limit
    found = found[:limit]
    ids = [saga_id for _, saga_id in found]
    marks = ",".join("?" * len(ids))
    loaded = {s.saga_id: s for s in load(conn, f"saga_id IN ({marks})", ids)} if ids else {}
    # A saga pruned between the two reads is left out.
    sagas = [loaded[i] for i in ids if i in loaded]
    total, capped = count(conn, query)
    return Page(sagas, total, capped, found[-1] if more else None)


def events(conn: Conn, saga_id: str, after_seq: int) -> list[SagaEvent]:
    rows = conn.execute(
        "SELECT * FROM saga_events WHERE saga_id=? AND seq>? ORDER BY seq",
        (saga_id, after_seq),
    ).fetchall()
    return [event_from(r) for r in rows]
