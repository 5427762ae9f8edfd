"""A saga's transitions: written to the log now, or an outcome held back for the next one.

An outcome (a step or compensation succeeded) is held back and written in one transaction with
the transition that follows it, which is awaited before the next participant call or the end of
the saga: one fsync for both, and still on disk before anything depends on it. Watchers hear of
a transition only once it is written.
"""

from __future__ import annotations

import time

from orchestrator.engine.bus import EventBus
from orchestrator.engine.model import SagaEvent, SagaEventType, SagaRecord, StepRecord, now
from orchestrator.engine.observer import SagaObserver
from orchestrator.engine.outbox import Outbox
from orchestrator.engine.store import SagaStore, Write


def make_event(
    saga: SagaRecord,
    type_: SagaEventType,
    step: StepRecord | None = None,
    message: str = "",
) -> SagaEvent:
    return SagaEvent(
        saga_id=saga.saga_id,
        seq=saga.event_seq,
        type=type_,
        status=saga.status,
        step=step.name if step else "",
        attempt=(
            0
            if step is None
            else step.compensation_attempts
            if type_.of_compensation
            else step.attempts
        ),
        message=message,
        correlation_id=saga.correlation_id,
    )


class Transitions:
    def __init__(
        self, store: SagaStore, observer: SagaObserver, bus: EventBus, outbox: Outbox
    ) -> None:
        self.store = store
        self.observer = observer
        self.bus = bus
        self.outbox = outbox
        # Outcomes held back for the saga's next transition (see hold_outcome), by saga.
        self._held: dict[str, list[tuple[Write, SagaEvent]]] = {}

    async def write_transition(
        self,
        saga: SagaRecord,
        steps: list[StepRecord],
        type_: SagaEventType,
        step: StepRecord | None = None,
        message: str = "",
    ) -> None:
        """Write the transition (after any held-back outcomes) to the saga log, then tell
        watchers."""
        saga.event_seq += 1
        saga.updated_at = now()
        event = make_event(saga, type_, step, message)
        held = self._held.get(saga.saga_id, [])
        began = time.perf_counter()
        await self.store.save(saga, steps, event, [w for w, _ in held])
        self.observer.log_written(time.perf_counter() - began)
        self.observer.saga_changed(saga, event)
        self._held.pop(saga.saga_id, None)
        for _, earlier in held:
            self.bus.publish(earlier)
        # Before watchers hear of the end, so whoever sees it finished finds it logged too.
        await self.outbox.deliver(saga)
        self.bus.publish(event)

    def hold_outcome(
        self,
        saga: SagaRecord,
        steps: list[StepRecord],
        type_: SagaEventType,
        step: StepRecord | None = None,
        message: str = "",
    ) -> None:
        """Hold an outcome back for the saga's next transition, written in the same transaction.
        Only for outcomes that a transition always follows before any participant call."""
        saga.event_seq += 1
        saga.updated_at = now()
        event = make_event(saga, type_, step, message)
        write = self.store.transition(saga, steps, event)
        self.observer.saga_changed(saga, event)
        self._held.setdefault(saga.saga_id, []).append((write, event))

    def settle_held(self, saga_id: str, write: bool) -> None:
        """A driver ended between an outcome and the next transition: commit what it held
        back without waiting (`write`), or drop it (its lease went elsewhere)."""
        held = self._held.pop(saga_id, None)
        if held and write:
            written = self.store.save_soon([w for w, _ in held])
            written.add_done_callback(lambda f: f.cancelled() or f.exception())
