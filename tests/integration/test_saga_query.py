"""The saga log's filter queries (orchestrator.engine.saga_query) on SQLite and PostgreSQL:
what each filter finds, keyset batches, and that each filter's query reads its index."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from orchestrator.engine import saga_query
from orchestrator.engine.model import (
    SagaEvent,
    SagaEventType,
    SagaRecord,
    SagaStatus,
    SagaSubject,
    StepRecord,
)
from orchestrator.engine.rows import N_SAGA_COLS, SAGA_COLS, saga_row
from orchestrator.engine.saga_query import SagaQuery, where
from orchestrator.engine.store import SagaStore
from sagakit.db import Conn

STEPS = ("reserve_seat", "deduct_loyalty_points", "process_payment", "confirm_booking")
FILLER = 3000  # enough rows that a planner prefers an index to a scan


def saga(n: int, **fields: object) -> SagaRecord:
    """Saga number `n`, created at second n of one day (so newest first is n descending)."""
    record = SagaRecord(
        saga_id=f"s{n:05d}",
        definition="booking",
        correlation_id="c",
        payload=b"",
        steps=[StepRecord(name, i + 1) for i, name in enumerate(STEPS)],
        created_at=f"2026-01-01T{n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d}.000000+00:00",
        subject=SagaSubject("ann", "LOY-1", ("F1",)),
    )
    for name, value in fields.items():
        setattr(record, name, value)
    return record


# The sagas the filters pick out, among FILLER ordinary ones (COMPLETED, LOY-1, F1, by ann).
SPECIAL = {
    10: {"subject": SagaSubject("bob", "LOY-2", ("F2", "F3")), "status": SagaStatus.FAILED},
    20: {"failed_step": "process_payment", "error_reason": "CARD_DECLINED"},
    30: {"status": SagaStatus.COMPENSATED, "failed_step": "process_payment"},
    40: {"definition": "trip", "subject": SagaSubject(None, None, ("F3",))},
    50: {"error_reason": "UNAVAILABLE", "failed_step": "reserve_seat"},
}


@pytest.fixture
async def store(database_url: Callable[[str], str]) -> AsyncIterator[SagaStore]:
    s = SagaStore(database_url("orchestrator"), "NORMAL")
    await s.open()
    try:
        for n, fields in SPECIAL.items():
            start = SagaEvent(f"s{n:05d}", 1, SagaEventType.SAGA_STARTED, SagaStatus.RUNNING)
            await s.create(saga(n, **{"status": SagaStatus.COMPLETED, **fields}), start)
        await s.db.transaction(fill)
        yield s
    finally:
        await s.close()


def fill(conn: Conn) -> None:
    rows = [saga(n, status=SagaStatus.COMPLETED) for n in range(100, 100 + FILLER)]
    marks = ",".join("?" * N_SAGA_COLS)
    conn.executemany(f"INSERT INTO sagas ({SAGA_COLS}) VALUES ({marks})", map(saga_row, rows))
    conn.executemany(
        "INSERT INTO saga_flights (flight_id, created_at, saga_id) VALUES ('F1', ?, ?)",
        [(r.created_at, r.saga_id) for r in rows],
    )


def ids(found: list[tuple[str, str]]) -> list[int]:
    return [int(saga_id[1:]) for _, saga_id in found]


FILTERS: list[tuple[SagaQuery, list[int], str]] = [
    (SagaQuery(customer_id="LOY-2"), [10], "sagas_customer_keyset"),
    (SagaQuery(flight_id="F3"), [40, 10], "saga_flights_pkey|sqlite_autoindex_saga_flights"),
    (SagaQuery(owner="bob"), [10], "sagas_owner_keyset"),
    (SagaQuery(step="process_payment"), [30, 20], "sagas_failed_step_keyset"),
    (SagaQuery(error_reason="UNAVAILABLE"), [50], "sagas_error_reason_keyset"),
    (SagaQuery(saga="trip"), [40], "sagas_definition_keyset"),
    (
        SagaQuery(statuses=(SagaStatus.FAILED, SagaStatus.COMPENSATED)),
        [30, 10],
        "sagas_status_keyset",
    ),
    (
        SagaQuery(
            created_after="2026-01-01T00:00:20.000000+00:00",
            created_before="2026-01-01T00:00:50.000000+00:00",
        ),
        [40, 30, 20],
        "sagas_created_keyset",
    ),
]


@pytest.mark.parametrize(
    ("query", "expected", "index"),
    FILTERS,
    ids=["customer", "flight", "owner", "step", "reason", "saga", "statuses", "created"],
)
async def test_each_filter_finds_its_sagas_through_its_index(
    store: SagaStore, query: SagaQuery, expected: list[int], index: str
) -> None:
    assert ids(await store.find_saga_ids(query)) == expected
    page = await store.page(query, 10)
    assert [s.saga_id for s in page.sagas] == [f"s{n:05d}" for n in expected]
    assert page.total == len(expected)
    shown = await plan(store, query)
    assert any(name in shown for name in index.split("|")), shown
    assert "Seq Scan" not in shown and not {"SCAN s", "SCAN f"} & set(shown.splitlines()), shown


async def test_filters_combine_and_batches_follow_the_keyset(store: SagaStore) -> None:
    both = SagaQuery(step="process_payment", statuses=(SagaStatus.COMPLETED,))
    assert ids(await store.find_saga_ids(both)) == [20]
    none = SagaQuery(customer_id="LOY-2", flight_id="F1")
    assert await store.find_saga_ids(none) == []
    # Every F1 saga, 1000 at a time, each once, newest first.
    seen: list[int] = []
    after = None
    while batch := await store.find_saga_ids(SagaQuery(flight_id="F1"), after, 1000):
        seen += ids(batch)
        after = batch[-1]
    assert seen == sorted(set(seen), reverse=True)
    assert len(seen) == FILLER + 3  # the fillers and sagas 20, 30, 50
    assert (await store.page(SagaQuery(flight_id="F1"), 1)).total == FILLER + 3


async def plan(store: SagaStore, query: SagaQuery) -> str:
    """The query plan of a page of `query`, as one string."""
    body, k, args = where(query, ("2027-01-01", "z"))
    sql = f"SELECT {k}.saga_id {body} ORDER BY {k}.created_at DESC, {k}.saga_id DESC LIMIT 20"
    if store.db.dialect == "sqlite":
        rows = await store.db.read(
            lambda c: c.execute(f"EXPLAIN QUERY PLAN {sql}", args).fetchall()
        )
        return "\n".join(str(r[3]) for r in rows)

    def explain(conn: Conn) -> str:
        # A few thousand rows fit in a page or two: forbid the scan to see which index the
        # planner would read (the one a large log reads).
        conn.execute("ANALYZE sagas")
        conn.execute("SET LOCAL enable_seqscan = off")
        return "\n".join(str(r[0]) for r in conn.execute(f"EXPLAIN {sql}", args).fetchall())

    return await store.db.transaction(explain)


async def test_a_broad_filters_count_stops_at_the_cap(
    store: SagaStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The cap keeps a broad filter's list flat against the log's size; 1000 stands in for
    # 10,000 so the log stays small.
    monkeypatch.setattr(saga_query, "COUNT_CAP", 1000)
    broad = await store.page(SagaQuery(flight_id="F1"), 5)
    assert (broad.total, broad.total_capped) == (1000, True)
    assert len(broad.sagas) == 5 and broad.after is not None
    narrow = await store.page(SagaQuery(customer_id="LOY-2"), 5)
    assert (narrow.total, narrow.total_capped) == (1, False)
    # Statuses alone come from the counts table, never capped (it counts the sagas the store
    # created: the fillers were inserted beside it).
    completed = await store.page(SagaQuery(statuses=(SagaStatus.COMPLETED,)), 5)
    assert (completed.total, completed.total_capped) == (3, False)
