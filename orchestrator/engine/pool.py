"""The sagas driven here: one driver task each, and room for more (max_driving)."""

from __future__ import annotations

import asyncio

from orchestrator.engine.driver import Driver
from orchestrator.engine.leases import LeaseTable
from orchestrator.engine.model import SagaRecord


class DriverPool:
    def __init__(self, driver: Driver, leases: LeaseTable) -> None:
        self.driver = driver
        self.leases = leases
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.live: dict[str, SagaRecord] = {}
        self.freed = asyncio.Event()  # a driver ended: room to claim another saga

    def spawn(self, saga: SagaRecord, first_started: bool = False) -> None:
        """Drive the saga; `first_started`: its first step's start is logged already."""
        self.live[saga.saga_id] = saga
        task = asyncio.create_task(
            self.driver.drive(saga, first_started), name=f"saga-{saga.saga_id}"
        )
        self.tasks[saga.saga_id] = task
        epoch = saga.lease_epoch

        def done(_: asyncio.Task[None]) -> None:
            if self.tasks.get(saga.saga_id) is task:
                self.tasks.pop(saga.saga_id, None)
                self.live.pop(saga.saga_id, None)
                self.leases.until.pop(saga.saga_id, None)
            self.leases.ended.append((saga.saga_id, epoch))
            self.freed.set()

        task.add_done_callback(done)

    def room(self, max_driving: int) -> int:
        return max_driving - len(self.tasks)

    async def stop(self, grace: float) -> None:
        """Let the drivers finish within `grace`; cancel the rest."""
        tasks = list(self.tasks.values())
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
