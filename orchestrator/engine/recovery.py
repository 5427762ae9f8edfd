"""Recovery after a restart: hand the sink what a kill kept from it, let go of this replica's
old leases, then claim and drive the live sagas nobody holds, a bounded number at a time."""

from __future__ import annotations

from orchestrator.engine.claims import LeaseKeeper
from orchestrator.engine.outbox import Outbox
from orchestrator.engine.pool import DriverPool
from orchestrator.engine.settings import RunnerSettings
from orchestrator.engine.store import SagaStore


async def reopen(store: SagaStore, outbox: Outbox, owner: str) -> int:
    """Before serving: reconcile the sink, and end the leases this replica held before it
    restarted (on a SQLite log, which one process owns, every lease), so the claims pick those
    sagas up. Returns how many leases."""
    await outbox.reconcile()
    return await store.expire_leases(owner if store.shared else None)


async def drive_recovered(
    keeper: LeaseKeeper, drivers: DriverPool, settings: RunnerSettings
) -> int:
    """Claim and drive every live saga nobody holds, never more than `max_driving` at once, so
    the first ones finish at full speed instead of thousands sharing the loop. The keeper
    starts first, so the leases of the sagas recovered early are renewed while the rest wait
    their turn. Returns how many sagas were claimed."""
    keeper.start()
    count = 0
    while True:
        while drivers.room(settings.max_driving) <= 0:
            drivers.freed.clear()
            await drivers.freed.wait()
        wanted = min(settings.claim_batch, drivers.room(settings.max_driving))
        claimed = await keeper.claim(recovering=True)
        count += claimed
        if claimed < wanted:
            return count
