"""Following a saga, whichever replica drives it: waiting for its end (BookFlight) and its
events as they are logged (WatchSaga). A saga driven here is heard of through the event bus;
one driven elsewhere is read from the log every `follow_every` seconds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from orchestrator.engine.bus import EventBus
from orchestrator.engine.model import TERMINAL, SagaEvent, SagaRecord
from orchestrator.engine.pool import DriverPool
from orchestrator.engine.store import SagaStore


def _ends_saga(event: SagaEvent) -> bool:
    return event.status in TERMINAL


class Follower:
    def __init__(
        self, bus: EventBus, store: SagaStore, drivers: DriverPool, follow_every: float
    ) -> None:
        self.bus = bus
        self.store = store
        self.drivers = drivers
        self.follow_every = follow_every

    async def get(self, saga_id: str) -> SagaRecord | None:
        """The saga as it stands: the live record if driven here, else the log's."""
        return self.drivers.live.get(saga_id) or await self.store.load(saga_id)

    def _here(self, saga_id: str) -> bool:
        return saga_id in self.drivers.tasks

    async def wait(self, saga_id: str, within: float | None) -> SagaRecord | None:
        """The saga once terminal, or as it stands when `within` seconds pass."""
        queue = self.bus.subscribe(saga_id, only=_ends_saga)
        try:
            saga = await self.get(saga_id)
            if saga is None or saga.terminal:
                return saga
            loop = asyncio.get_running_loop()
            end = None if within is None else loop.time() + within
            while True:
                here = self._here(saga_id)
                # Driven here, its end is published here (woken every second anyway, in case
                # the lease goes elsewhere); driven by another replica, read the log.
                poll = 1.0 if here else self.follow_every * 2
                left = None if end is None else end - loop.time()
                if left is not None and left <= 0:
                    break
                try:
                    # asyncio.timeout, not wait_for: no extra task per event.
                    async with asyncio.timeout(poll if left is None else min(left, poll)):
                        event = await queue.get()
                except TimeoutError:
                    if not here:
                        current = await self.store.load(saga_id)
                        if current is None or current.terminal:
                            return current
                    continue
                if event.status in TERMINAL:
                    if saga.terminal:
                        return saga  # the live record, just logged: no need to read it back
                    break
            return await self.get(saga_id)
        finally:
            self.bus.unsubscribe(saga_id, queue)

    async def follow(self, saga_id: str) -> AsyncIterator[SagaEvent]:
        """The saga's events from its first, then live as they are logged; ends once it is
        terminal (at once for one already terminal and driven by nobody here)."""
        queue = self.bus.subscribe(saga_id)
        try:
            last, replayed, status = 0, False, None
            while True:
                events = await self.store.events(saga_id, last)
                for event in events:
                    last, status = event.seq, event.status
                    yield event
                    if replayed and status in TERMINAL:
                        return
                replayed = True
                # Terminal as last seen, and its driver (if it was here) gone: the end. A
                # driver still finishing when the end was read is waited for, not forever.
                if status in TERMINAL and not self._here(saga_id):
                    return
                here = self._here(saga_id)
                try:
                    async with asyncio.timeout(1.0 if here else self.follow_every):
                        await queue.get()
                except TimeoutError:
                    pass
                while not queue.empty():  # the log has them all: read once for the lot
                    queue.get_nowait()
        finally:
            self.bus.unsubscribe(saga_id, queue)
