"""Saga and step counts kept as sagas move, for GetStats and the gauges: the saga log is
counted once at start, never per scrape or per call.

The counts are this process's view: the log as it was at start plus every move this runner has
made since. With several orchestrator replicas on one log, each counts its own moves (README
"Metrics"); the restart of any replica recounts.
"""

from __future__ import annotations

from collections import Counter

from orchestrator.engine.model import LIVE, SagaEvent, SagaRecord, SagaStatus, StepState
from orchestrator.engine.observer import Resumed, SagaObserver
from orchestrator.engine.runner import needs_compensation

# Where a saga's steps count toward compensations_pending (as the saga log's own count).
_OWES_COMPENSATION = (SagaStatus.COMPENSATING, SagaStatus.FAILED)

Snapshot = tuple[SagaStatus, tuple[tuple[StepState, bool], ...]]


def _snapshot(saga: SagaRecord) -> Snapshot:
    return saga.status, tuple((s.state, needs_compensation(s)) for s in saga.steps)


def _contribution(snap: Snapshot) -> Counter[str]:
    """What one saga adds to the counts (the keys of SagaStore.stats())."""
    status, steps = snap
    out: Counter[str] = Counter({status.value: 1})
    for state, owes in steps:
        out[f"all:{state.value}"] += 1
        if status in LIVE:
            out[f"live:{state.value}"] += 1
        if owes and status in _OWES_COMPENSATION:
            out["compensations_pending"] += 1
    return out


class SagaCounts(SagaObserver):
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        # Sagas this runner moves, as last counted; dropped once terminal.
        self._seen: dict[str, Snapshot] = {}

    def seed(self, stats: dict[str, int]) -> None:
        """The saga log's counts at start (SagaStore.stats())."""
        self.counts = Counter(stats)

    def get(self, key: str) -> int:
        return max(0, self.counts.get(key, 0))

    def saga_started(self, saga: SagaRecord) -> None:
        snap = _snapshot(saga)
        self.counts.update(_contribution(snap))
        self._seen[saga.saga_id] = snap

    def saga_resumed(self, saga: SagaRecord, how: Resumed) -> None:
        # Already counted (in the seed, or by an earlier move): remember where it stands.
        self._seen.setdefault(saga.saga_id, _snapshot(saga))

    def saga_changed(self, saga: SagaRecord, event: SagaEvent) -> None:
        before = self._seen.get(saga.saga_id)
        after = _snapshot(saga)
        if before is None or before == after:
            if before is None:
                self._seen[saga.saga_id] = after
            return
        self.counts.update(_contribution(after))
        self.counts.subtract(_contribution(before))
        if saga.terminal:
            self._seen.pop(saga.saga_id, None)
        else:
            self._seen[saga.saga_id] = after
