"""Saga and step counts kept as sagas move, for GetStats and the gauges: the saga log's
counts are read once at start, never per scrape or per call.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from functools import lru_cache

from orchestrator.engine.model import LIVE, SagaEvent, SagaRecord, SagaStatus, StepState
from orchestrator.engine.observer import Resumed, SagaObserver
from orchestrator.engine.runner import needs_compensation
from orchestrator.engine.store import SagaStore

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


@lru_cache(maxsize=4096)
def _delta(before: Snapshot | None, after: Snapshot) -> tuple[tuple[str, int], ...]:
    """What a saga moving from `before` (None: new) to `after` changes in the counts. Sagas
    take a few dozen distinct snapshots between them, so each move is a cache hit: counting
    afresh at every move would cost a measurable share of each booking."""
    change = _contribution(after)
    if before is not None:
        change.subtract(_contribution(before))
    return tuple((key, n) for key, n in change.items() if n)


SHARED_REFRESH_S = 1.0


class SagaCounts(SagaObserver):
    """The counts GetStats and the gauges read, kept up to date by the runner's observer hooks.

    On a log of its own (SQLite: one process) the counts are exact: the log as it was at start
    plus every move this runner has made since (less what retention deleted). On a shared log
    (PostgreSQL, several replicas) other replicas move sagas too, so the counts are the log's
    own: read for each GetStats, and for the gauges when older than `SHARED_REFRESH_S`. Reading
    them costs the same however long the log: finished sagas are counted in saga_counts as they
    finish, only the live and FAILED ones are counted (SagaStore.stats)."""

    def __init__(self, shared: bool = False) -> None:
        """`shared`: the log is shared with other replicas; counts come from it (refresh())
        rather than from this runner's moves."""
        self.shared = shared
        self.refreshed_at = float("-inf")  # loop time of the last count of a shared log
        self.counts: Counter[str] = Counter()
        # Sagas this runner moves, as last counted; dropped once terminal.
        self._seen: dict[str, Snapshot] = {}

    def seed(self, stats: dict[str, int]) -> None:
        """The saga log's counts at start (SagaStore.stats())."""
        self.counts = Counter(stats)

    def get(self, key: str) -> int:
        return max(0, self.counts.get(key, 0))

    def stale(self, now: float) -> bool:
        """Whether a shared log's counts should be read again."""
        return self.shared and now - self.refreshed_at >= SHARED_REFRESH_S

    def saga_started(self, saga: SagaRecord) -> None:
        if self.shared:
            return
        snap = _snapshot(saga)
        self._apply(_delta(None, snap))
        self._seen[saga.saga_id] = snap

    def _apply(self, delta: tuple[tuple[str, int], ...]) -> None:
        counts = self.counts
        for key, n in delta:
            counts[key] += n

    def saga_resumed(self, saga: SagaRecord, how: Resumed) -> None:
        if self.shared:
            return
        # Already counted (in the seed, or by an earlier move): remember where it stands.
        self._seen.setdefault(saga.saga_id, _snapshot(saga))

    def saga_changed(self, saga: SagaRecord, event: SagaEvent) -> None:
        if self.shared:
            return
        before = self._seen.get(saga.saga_id)
        after = _snapshot(saga)
        if before is None or before == after:
            if before is None:
                self._seen[saga.saga_id] = after
            return
        self._apply(_delta(before, after))
        if saga.terminal:
            self._seen.pop(saga.saga_id, None)
        else:
            self._seen[saga.saga_id] = after


async def refresh_counts(store: SagaStore, counts: SagaCounts, fresh: bool = False) -> None:
    """Count a shared saga log again if its counts are older than SHARED_REFRESH_S, or with
    `fresh` whatever their age (GetStats: a caller who just booked must see the booking)."""
    now = asyncio.get_running_loop().time()
    if counts.stale(now) or (fresh and counts.shared):
        counts.seed(await store.stats())
        counts.refreshed_at = now
