"""In-process fan-out of saga events to watchers (WatchSaga, BookFlight waiting for the end)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable

from orchestrator.engine.model import SagaEvent

EventFilter = Callable[[SagaEvent], bool]


class EventBus:
    def __init__(self) -> None:
        # saga id -> {queue: the filter its events must pass, or None for every event}
        self._subs: dict[str, dict[asyncio.Queue[SagaEvent], EventFilter | None]] = defaultdict(
            dict
        )

    def subscribe(self, saga_id: str, only: EventFilter | None = None) -> asyncio.Queue[SagaEvent]:
        """A queue of the saga's events from now on; with `only`, just the events it accepts
        (a waiter for the end is not woken by every step)."""
        queue: asyncio.Queue[SagaEvent] = asyncio.Queue()
        self._subs[saga_id][queue] = only
        return queue

    def unsubscribe(self, saga_id: str, queue: asyncio.Queue[SagaEvent]) -> None:
        subs = self._subs.get(saga_id)
        if subs is not None:
            subs.pop(queue, None)
            if not subs:
                del self._subs[saga_id]

    def publish(self, event: SagaEvent) -> None:
        for queue, only in self._subs.get(event.saga_id, {}).items():
            if only is None or only(event):
                queue.put_nowait(event)
