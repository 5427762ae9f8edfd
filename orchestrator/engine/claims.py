"""Leases held and taken: claiming live sagas nobody holds, renewing this runner's leases and
stopping the drivers whose lease went elsewhere, and the housekeeping loop that does both
(with the outbox's batched clearing, and on a shared log the cancels other replicas received
for sagas driven here) every `claim_every` seconds."""

from __future__ import annotations

import asyncio
import logging
import time

from orchestrator.engine.cancels import CancelTable
from orchestrator.engine.leases import LeaseTable
from orchestrator.engine.observer import SagaObserver
from orchestrator.engine.outbox import Outbox
from orchestrator.engine.pool import DriverPool
from orchestrator.engine.settings import RunnerSettings
from orchestrator.engine.store import SagaStore
from sagakit import context
from sagakit.db import DatabaseUnavailable

log = logging.getLogger("orchestrator.saga")


class LeaseKeeper:
    def __init__(
        self,
        store: SagaStore,
        settings: RunnerSettings,
        leases: LeaseTable,
        drivers: DriverPool,
        observer: SagaObserver,
        outbox: Outbox,
        cancels: CancelTable,
    ) -> None:
        self.cancels = cancels
        self.store = store
        self.settings = settings
        self.leases = leases
        self.drivers = drivers
        self.observer = observer
        self.outbox = outbox
        self._task: asyncio.Task[None] | None = None

    async def claim(self, recovering: bool = False) -> int:
        """Claim and drive live sagas nobody holds a lease on: never leased, released by a
        replica that stopped, or expired (their holder died, stalled or lost the database, or
        this replica before it restarted: see reopen). `recovering`: only how it is logged.
        At most as many as leave `max_driving` sagas driven here."""
        limit = min(self.settings.claim_batch, self.drivers.room(self.settings.max_driving))
        if limit <= 0:
            return 0  # busy enough: the rest wait (their leases stay expired) for room
        ttl = self.settings.lease_ttl
        held_until = time.monotonic() + ttl
        sagas = await self.store.claim(self.settings.owner, time.time() + ttl, time.time(), limit)
        for saga in sagas:
            context.correlation_id.set(saga.correlation_id)
            context.saga_id.set(saga.saga_id)
            log.warning(
                "[SAGA] %s %s saga left %s (lease %d)",
                "recovering" if recovering else "taking over",
                saga.definition,
                saga.status.value,
                saga.lease_epoch,
            )
            stale = self.drivers.tasks.get(saga.saga_id)
            if stale is not None:  # a driver of ours that outlived its lease: it is fenced off
                self.leases.lost.add(saga.saga_id)
                stale.cancel()
                await asyncio.gather(stale, return_exceptions=True)
            self.leases.until[saga.saga_id] = held_until
            self.observer.saga_resumed(saga, "recovered" if recovering else "adopted")
            self.drivers.spawn(saga)
        return len(sagas)

    async def renew(self) -> None:
        """Extend the leases of the sagas this runner drives; stop driving those it lost."""
        tasks = self.drivers.tasks
        leases = {i: s.lease_epoch for i, s in self.drivers.live.items() if i in tasks}
        ended, self.leases.ended = self.leases.ended, []
        began = time.monotonic()
        try:
            held = await self.store.renew(
                self.settings.owner, leases, time.time() + self.settings.lease_ttl, ended
            )
        except BaseException:
            self.leases.ended.extend(ended)
            raise
        self.leases.last_renew = began
        for saga_id in leases:
            if saga_id in held:
                self.leases.until[saga_id] = began + self.settings.lease_ttl
            elif (task := tasks.get(saga_id)) is not None and not task.done():
                # (A driver that ended already, its own write fenced off, said so itself.)
                context.saga_id.set(saga_id)
                log.warning("[SAGA] lease lost to another replica; no longer driving it")
                self.leases.lost.add(saga_id)
                task.cancel()

    async def notice_cancels(self) -> None:
        """Tell the drivers here of the cancels other replicas put on the shared log."""
        for saga_id, request in await self.store.pending_cancels():
            if saga_id in self.drivers.tasks:
                self.cancels.tell(saga_id, request, self.drivers.live.get(saga_id))

    def start(self) -> None:
        """Keep claiming and renewing in the background (unless claim_every is 0)."""
        if self._task is None and self.settings.claim_every > 0:
            self._task = asyncio.create_task(self._keep_forever(), name="saga-leases")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._task = None

    async def _keep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.claim_every)
            try:
                if time.monotonic() - self.leases.last_renew >= self.settings.renew_every:
                    await self.renew()
                await self.outbox.flush()
                if self.store.shared and self.drivers.tasks:
                    await self.notice_cancels()
                await self.claim()
            except DatabaseUnavailable as exc:
                log.warning("[SAGA] leases, outbox: saga log unavailable (%s); trying again", exc)
            except Exception:
                log.exception("[SAGA] housekeeping failed (leases, outbox); trying again")
