"""A bulk job's query kept as JSON in its row."""

from __future__ import annotations

from orchestrator.engine.bulk_sql import query_from, query_json
from orchestrator.engine.model import SagaStatus
from orchestrator.engine.saga_query import SagaQuery


def test_a_jobs_query_survives_its_row() -> None:
    q = SagaQuery(
        statuses=(SagaStatus.FAILED, SagaStatus.RUNNING),
        customer_id="LOY-1001",
        step="process_payment",
        created_before="2026-12-07T10:00:00.000000+00:00",
    )
    assert query_from(query_json(q)) == q
    assert query_from(query_json(SagaQuery())) == SagaQuery()
