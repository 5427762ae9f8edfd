"""The saga counts behind GetStats and the gauges follow a saga through every move, the
operator's resume of a FAILED saga included, and agree with a count of the records."""

from __future__ import annotations

from collections import Counter

from orchestrator.engine.model import (
    SagaEvent,
    SagaEventType,
    SagaRecord,
    SagaStatus,
    StepRecord,
    StepState,
)
from orchestrator.telemetry.counts import SagaCounts, _contribution, _snapshot

STEPS = ("reserve_seat", "deduct_loyalty_points", "process_payment", "confirm_booking")


def saga(saga_id: str) -> SagaRecord:
    return SagaRecord(
        saga_id, "book_flight", "c", b"", [StepRecord(n, i + 1) for i, n in enumerate(STEPS)]
    )


def moved(counts: SagaCounts, s: SagaRecord) -> None:
    counts.saga_changed(s, SagaEvent(s.saga_id, 0, SagaEventType.STEP_STARTED, s.status))


def recount(*sagas: SagaRecord) -> dict[str, int]:
    total: Counter[str] = Counter()
    for s in sagas:
        total.update(_contribution(_snapshot(s)))
    return {k: v for k, v in total.items() if v}


def nonzero(counts: SagaCounts) -> dict[str, int]:
    return {k: v for k, v in counts.counts.items() if v}


def test_counts_follow_a_saga_that_fails_is_resumed_and_compensates() -> None:
    counts = SagaCounts()
    done = saga("done")
    done.status = SagaStatus.COMPLETED
    for st in done.steps:
        st.state = StepState.SUCCEEDED
    counts.seed(recount(done))  # the log at start: one finished saga

    s = saga("s1")
    s.steps[0].state = StepState.EXECUTING
    counts.saga_started(s)
    assert nonzero(counts) == recount(done, s)

    for st in s.steps[:3]:
        st.state = StepState.SUCCEEDED
        moved(counts, s)
    s.steps[3].state = StepState.STEP_FAILED
    s.status = SagaStatus.COMPENSATING
    moved(counts, s)
    assert counts.get("compensations_pending") == 3
    s.steps[2].state = StepState.COMPENSATION_FAILED
    s.status = SagaStatus.FAILED
    moved(counts, s)
    assert nonzero(counts) == recount(done, s)
    assert counts.get("FAILED") == 1 and counts.get("compensations_pending") == 3

    # The operator resumes it (the runner reports the resume before changing anything).
    counts.saga_resumed(s, "operator")
    s.status = SagaStatus.COMPENSATING
    moved(counts, s)
    for st in reversed(s.steps[:3]):
        st.state = StepState.COMPENSATED_STEP
        moved(counts, s)
    s.status = SagaStatus.COMPENSATED
    moved(counts, s)
    assert nonzero(counts) == recount(done, s)
    assert (counts.get("FAILED"), counts.get("COMPENSATED"), counts.get("RUNNING")) == (0, 1, 0)
    assert counts.get("compensations_pending") == 0


def test_a_recovered_saga_is_not_counted_twice() -> None:
    s = saga("s2")
    s.steps[0].state = StepState.SUCCEEDED
    s.steps[1].state = StepState.EXECUTING
    counts = SagaCounts()
    counts.seed(recount(s))  # counted in the log at start
    counts.saga_resumed(s, "recovered")
    s.steps[1].state = StepState.SUCCEEDED
    moved(counts, s)
    assert nonzero(counts) == recount(s)
    assert counts.get("RUNNING") == 1
