"""In-process fan-out of saga events to watchers (WatchSaga, BookFlight waiting for the end)."""

from __future__ import annotations

import asyncio
from collections import defaultdict

from orchestrator.engine.model import SagaEvent


class EventBus:
    def __init__(self) -> None:
        self._subs: dict[str, set[asyncio.Queue[SagaEvent]]] = defaultdict(set)

    def subscribe(self, saga_id: str) -> asyncio.Queue[SagaEvent]:
        queue: asyncio.Queue[SagaEvent] = asyncio.Queue()
        self._subs[saga_id].add(queue)
        return queue

    def unsubscribe(self, saga_id: str, queue: asyncio.Queue[SagaEvent]) -> None:
        subs = self._subs.get(saga_id)
        if subs is not None:
            subs.discard(queue)
            if not subs:
                del self._subs[saga_id]

    def publish(self, event: SagaEvent) -> None:
        for queue in self._subs.get(event.saga_id, ()):
            queue.put_nowait(event)
