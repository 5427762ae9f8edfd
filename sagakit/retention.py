"""Retention: rows older than a configured age deleted in the background, in small batches.

A sweep deletes one batch (a transaction of at most `batch` rows or sagas), pauses, and goes on
until a batch comes back short; sweeps run at start and then every `every` seconds. The pause
lets the service's own transactions through between two batches (SQLite runs one transaction
at a time), so bookings wait for at most one batch, never for a whole sweep.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from sagakit.config import RetentionConfig

log = logging.getLogger("sagakit.retention")

# One batch: delete up to `limit` rows older than `before` (an ISO timestamp, UTC); returns how
# many it deleted, or None when another replica is sweeping (this sweep then ends).
Batch = Callable[[str, int], Awaitable[int | None]]


def cutoff(age: float, now: datetime | None = None) -> str:
    """The ISO timestamp `age` seconds ago, in the form the services write theirs (UTC,
    microseconds), so that timestamps compare as strings."""
    at = (now or datetime.now(UTC)) - timedelta(seconds=age)
    return at.isoformat(timespec="microseconds")


class Retention:
    """Runs the sweeps of one kind of row (`what`, for the logs) as a background task."""

    def __init__(self, what: str, age: float | None, config: RetentionConfig, batch: Batch):
        """`age`: seconds a row is kept (None: retention off, nothing runs)."""
        self.what = what
        self.age = age
        self.config = config
        self._batch = batch
        self._task: asyncio.Task[None] | None = None
        self.batches = 0  # batches that deleted something, since start (tests, logs)
        self.deleted = 0

    async def sweep(self) -> int:
        """Delete everything older than the age, batch by batch; returns how much."""
        if self.age is None:
            return 0
        before = cutoff(self.age)
        total = 0
        while True:
            n = await self._batch(before, self.config.batch)
            if not n:
                break
            total += n
            log.debug("[RETENTION] one batch: %d %s", n, self.what)
            self.batches += 1
            self.deleted += n
            if n < self.config.batch:
                break
            await asyncio.sleep(self.config.pause)
        if total:
            log.info("[RETENTION] deleted %d %s from before %s", total, self.what, before)
        return total

    async def _forever(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:
                log.exception("[RETENTION] could not delete old %s; trying again", self.what)
            await asyncio.sleep(self.config.every)

    def start(self) -> None:
        if self.age is not None and self._task is None:
            self._task = asyncio.create_task(self._forever(), name=f"retention-{self.what}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
