"""Hooks through which the runner tells others what its sagas do (metrics, traces, counts).

The engine knows nothing of Prometheus, OpenTelemetry or gRPC: it calls these hooks at a few
places and implementations live outside it (orchestrator/telemetry/). Every hook must be cheap
and must not raise; `attempt` must await the call it is given and return (or raise) exactly
what the call does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from orchestrator.engine.model import SagaEvent, SagaRecord

# How a driver came to (re)drive a saga that was already in the log.
Resumed = Literal["recovered", "adopted", "operator"]


@dataclass(frozen=True)
class Attempt:
    """One participant call the runner is about to make."""

    saga: SagaRecord
    step: str
    op: str  # "Do" or "Compensate"
    attempt: int  # 1-based, counted across restarts (the saga log keeps it)


class SagaObserver:
    """Does nothing: the default, and the base class of observers that want a few hooks."""

    def saga_started(self, saga: SagaRecord) -> None:
        """A new saga was logged (its first step may already be marked started)."""

    def saga_resumed(self, saga: SagaRecord, how: Resumed) -> None:
        """A saga already in the log is about to be driven again (called before any change)."""

    def saga_changed(self, saga: SagaRecord, event: SagaEvent) -> None:
        """The saga (or some of its steps) moved; `event` says how. Terminal statuses too."""

    def log_written(self, seconds: float) -> None:
        """A saga's transition reached the saga log, `seconds` after it was queued (the wait
        for group commit included): what a saga waits for at each step."""

    async def attempt(self, call: Attempt, run: Awaitable[Any]) -> Any:
        """Await one participant call (`run`), measuring it as the observer likes."""
        return await run


class Observers(SagaObserver):
    """Several observers as one: hooks in order; attempts nested, the first outermost."""

    def __init__(self, observers: Sequence[SagaObserver]) -> None:
        self.observers = list(observers)

    def saga_started(self, saga: SagaRecord) -> None:
        for o in self.observers:
            o.saga_started(saga)

    def saga_resumed(self, saga: SagaRecord, how: Resumed) -> None:
        for o in self.observers:
            o.saga_resumed(saga, how)

    def saga_changed(self, saga: SagaRecord, event: SagaEvent) -> None:
        for o in self.observers:
            o.saga_changed(saga, event)

    def log_written(self, seconds: float) -> None:
        for o in self.observers:
            o.log_written(seconds)

    async def attempt(self, call: Attempt, run: Awaitable[Any]) -> Any:
        for o in reversed(self.observers):
            run = o.attempt(call, run)
        return await run
