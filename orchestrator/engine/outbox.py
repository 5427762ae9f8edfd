"""The runner's side of the outbox: finished sagas go to the sink (the bookings log) and are
cleared from the saga log's outbox in batches; after a stop, what the sink lacks is appended."""

from __future__ import annotations

import logging

from orchestrator.engine.model import FINISHED, SagaRecord
from orchestrator.engine.sink import TerminalSink
from orchestrator.engine.store import SagaStore

log = logging.getLogger("orchestrator.saga")


class Outbox:
    def __init__(self, store: SagaStore, sink: TerminalSink | None) -> None:
        self.store = store
        self.sink = sink
        # Sagas the sink has, still to be cleared from the saga log's outbox (in batches).
        self._delivered: list[str] = []

    async def deliver(self, saga: SagaRecord) -> None:
        """Append a saga that has just finished to the sink (nothing for other statuses)."""
        if saga.status not in FINISHED or self.sink is None:
            return
        try:
            await self.sink.append(saga)
            self._delivered.append(saga.saga_id)
        except Exception:
            # Still in the outbox: appended at the next start.
            log.exception("[SAGA] could not write the finished saga to the bookings log")

    async def reconcile(self) -> None:
        """At start: append to the sink the finished sagas a stop kept from it."""
        if self.sink is None or not self.store.outbox:
            return
        ids, checkpoint = await self.store.undelivered()
        if not ids:
            return
        sagas = [s for s in [await self.store.load(i) for i in ids] if s and s.status in FINISHED]
        missing = await self.sink.missing(checkpoint, sagas)
        for saga in missing:
            await self.sink.append(saga)
        if missing:
            log.warning(
                "[SAGA] %d finished saga(s) were missing from the bookings log after a stop; "
                "appended: %s",
                len(missing),
                ", ".join(s.saga_id for s in missing),
            )
        await self.store.mark_delivered(ids, self.sink.checkpoint(ids))

    async def flush(self) -> None:
        """Clear the sagas the sink has from the outbox (one transaction for a batch)."""
        if self.sink is None or not self._delivered:
            return
        ids, self._delivered = self._delivered, []
        await self.store.mark_delivered(ids, self.sink.checkpoint(ids))
