"""SagaQuery's pure parts: the digest page tokens are bound to, and the SQL a filter becomes."""

from __future__ import annotations

from orchestrator.engine.model import SagaStatus
from orchestrator.engine.saga_query import SagaQuery, where


def test_a_token_made_for_one_filter_does_not_fit_another() -> None:
    failed = SagaQuery(statuses=(SagaStatus.FAILED,))
    # A status alone keeps the value tokens had before filters, so those stay good.
    assert (SagaQuery().fingerprint(), failed.fingerprint()) == ("", "FAILED")
    both = SagaQuery(statuses=(SagaStatus.FAILED, SagaStatus.COMPENSATED), customer_id="LOY-1")
    same = SagaQuery(statuses=(SagaStatus.COMPENSATED, SagaStatus.FAILED), customer_id="LOY-1")
    assert both.fingerprint() == same.fingerprint()
    others = [
        SagaQuery(customer_id="LOY-2"),
        SagaQuery(customer_id="LOY-1", owner="ann"),
        SagaQuery(customer_id="LOY-1", flight_id="F1"),
        SagaQuery(step="process_payment"),
    ]
    prints = {q.fingerprint() for q in [both, *others]}
    assert len(prints) == len(others) + 1


def test_a_flight_filter_reads_the_flights_table_in_keyset_order() -> None:
    body, k, args = where(SagaQuery(flight_id="F1", created_before="2026"), ("2025", "x"))
    assert k == "f" and "JOIN saga_flights f" in body
    assert "f.created_at < ?" in body and "(f.created_at, f.saga_id) < (?, ?)" in body
    assert args == ["F1", "2026", "2025", "x"]
    assert where(SagaQuery()) == ("FROM sagas s WHERE 1=1", "s", [])
