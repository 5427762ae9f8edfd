"""Where finished sagas go (the bookings log): at least once from the engine's side, exactly
once in the sink, across kills.

The terminal transition puts the saga in the log's outbox in the same transaction; the runner
then appends it to the sink and, a little later and in batches, clears it from the outbox along
with the sink's checkpoint. After a kill, the outbox holds every saga the sink may lack: the
sink looks at what it holds past its checkpoint and the runner appends only what is missing.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol

from orchestrator.engine.model import SagaRecord


class TerminalSink(Protocol):
    async def append(self, saga: SagaRecord) -> None:
        """Record a finished saga; returns once it is durable enough to report it finished."""

    def checkpoint(self, cleared: Collection[str]) -> str:
        """A position such that every record of a saga not yet cleared from the outbox (nor in
        `cleared`, being cleared now) lies after it."""

    async def missing(self, checkpoint: str, sagas: Sequence[SagaRecord]) -> list[SagaRecord]:
        """Which of these sagas (in their current state) have no record after `checkpoint`."""
