"""Runs bulk jobs: one replica at a time drives each (the job's lease), batch by batch.

A batch's sagas are taken in hand and the cursor moved past them in one transaction; each is
then acted on (a resume once it holds a place among the replica's sagas in flight, Slots), and
their outcomes and the counts written in one more. After a kill the sagas taken in hand with no
outcome are first checked against their own records (the act leaves the job's mark in the
saga's own transaction): a saga is never acted on twice by one job. BulkAction: one per action.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol, TypeVar

from orchestrator.engine import bulk_sql
from orchestrator.engine.bulk_sql import ACTED, LIVE, BulkJob
from orchestrator.engine.errors import LeaseLost
from orchestrator.engine.saga_query import keys
from orchestrator.engine.store import SagaStore
from sagakit import testhooks
from sagakit.db import Conn, DatabaseUnavailable

log = logging.getLogger("orchestrator.bulk")

T = TypeVar("T")
Outcome = tuple[str, str]  # (ACTED | SKIPPED | REFUSED, the refusal's message)
# How often a job waiting for room among the sagas in flight looks again.
ROOM_POLL_S = 0.05


class Slots(Protocol):
    """The replica's places for sagas in flight (the admission limit)."""

    def take(self) -> bool: ...  # a place held, or False when full

    def give_back(self) -> None: ...


class Unlimited:
    """No limit (a BulkJobs built without one)."""

    def take(self) -> bool:
        return True

    def give_back(self) -> None:
        pass


def mark(job_id: str) -> str:
    """The message of the event a job's act writes to a saga: how a restart recognises it."""
    return f"bulk job {job_id}"


@dataclass(frozen=True)
class BulkAction:
    # Those of the sagas the job already acted on, from their own records (a restart's check).
    touched: Callable[[Conn, list[str], BulkJob], set[str]]
    act: Callable[[BulkJob, str], Awaitable[Outcome]]
    drives: bool = False  # the act has the saga driven here: it takes a place in flight


class BulkJobs:
    def __init__(
        self,
        store: SagaStore,
        actions: Mapping[str, BulkAction],
        owner: str,
        lease_ttl: float,
        batch: int = 50,
        poll: float = 1.0,
        busy: Callable[[], bool] = lambda: False,
        slots: Slots | None = None,
    ) -> None:
        """`busy`: whether this replica drives as many sagas as it should; the job waits
        before its next batch (the sagas it resumed are driven here). `slots`: a resume waits
        for a place among the sagas in flight, so new sagas are not refused for the job."""
        self.busy = busy
        self.slots = slots or Unlimited()
        self.store = store
        self.actions = actions
        self.owner = owner
        self.lease_ttl = lease_ttl
        self.batch = batch
        self.poll = poll
        self.driving: dict[str, asyncio.Task[None]] = {}
        # job id -> monotonic time until which this replica surely holds the job's lease: no
        # saga is acted on past it (another replica may have claimed the job since).
        self.until: dict[str, float] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._keep_claiming(), name="bulk-jobs")

    def wake(self) -> None:
        """A job was started here: claim it now, not at the next poll."""
        self._wake.set()

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self.driving.values()) if t is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._task = None

    async def _keep_claiming(self) -> None:
        while True:
            try:
                await self.claim()
            except DatabaseUnavailable as exc:
                log.warning("[BULK] saga log unavailable (%s); trying again", exc)
            except Exception:
                log.exception("[BULK] claiming jobs failed; trying again")
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll)
            except TimeoutError:
                pass
            self._wake.clear()

    async def claim(self) -> int:
        """Drive every live job nobody drives; returns how many were claimed."""
        at = time.time()
        ids = await self.store.db.read(lambda c: bulk_sql.claimable(c, self.owner, at))
        claimed = 0
        for job_id in ids:
            if job_id in self.driving:
                continue
            job = await self._claim_one(job_id, at)
            if job is not None:
                claimed += 1
                task = asyncio.create_task(self._drive(job), name=f"bulk-{job_id}")
                self.driving[job_id] = task
                task.add_done_callback(lambda _, j=job_id: self.driving.pop(j, None))  # type: ignore[misc]
        return claimed

    async def _claim_one(self, job_id: str, at: float) -> BulkJob | None:
        expires = time.time() + self.lease_ttl
        return await self._held(
            job_id, lambda c: bulk_sql.claim(c, job_id, self.owner, expires, at)
        )

    async def _held(self, job_id: str, fn: Callable[[Conn], T]) -> T:
        """Run a transaction that renews the job's lease; it holds for a TTL from its start."""
        began = time.monotonic()
        out = await self.store.db.transaction(fn)
        self.until[job_id] = began + self.lease_ttl
        return out

    async def _renew(self, job: BulkJob) -> None:
        expires = time.time() + self.lease_ttl
        await self._held(job.job_id, lambda c: bulk_sql.renew(c, job, expires))

    def _check(self, job: BulkJob) -> None:
        if time.monotonic() >= self.until.get(job.job_id, 0.0):
            raise LeaseLost(f"bulk job {job.job_id}: lease not renewed in time")

    async def _drive(self, job: BulkJob) -> None:
        log.warning("[BULK] driving %s job %s (lease %d)", job.action, job.job_id, job.epoch)
        try:
            while job.state in LIVE:
                job = await self._one_batch(job)
            log.warning("[BULK] job %s %s: %d done, %d skipped, %d failed",
                        job.job_id, job.state, job.done, job.skipped, job.failed)  # fmt: skip
        except LeaseLost:
            log.warning("[BULK] job %s: lease lost; another replica may drive it", job.job_id)
        except DatabaseUnavailable as exc:
            # The lease lapses; this replica (or another) claims the job again.
            log.warning("[BULK] job %s paused: saga log unavailable (%s)", job.job_id, exc)
        except Exception as exc:
            log.exception("[BULK] job %s failed", job.job_id)
            error = str(exc) or type(exc).__name__
            try:
                await self.store.db.transaction(lambda c: bulk_sql.fail(c, job, error))
            except Exception:  # the lease lapses; whoever claims the job tries again
                log.exception("[BULK] job %s: could not record its failure", job.job_id)
        finally:
            self.until.pop(job.job_id, None)

    async def _one_batch(self, job: BulkJob) -> BulkJob:
        """Finish the batch a kill interrupted, else take the next one in hand; act on it."""
        db = self.store.db
        saga_ids = await db.read(lambda c: bulk_sql.pending(c, job.job_id))
        if not saga_ids:
            if self.busy():  # come back for the next batch once some have ended
                await self._renew(job)
                await asyncio.sleep(self.poll)
                return job
            expires = time.time() + self.lease_ttl
            batch = await db.read(lambda c: keys(c, job.query, job.cursor, self.batch))
            job = await self._held(
                job.job_id, lambda c: bulk_sql.take_batch(c, job, batch, expires)
            )
            saga_ids = [k[1] for k in batch]
            if job.state not in LIVE:
                return job
        outcomes = await self._act(job, saga_ids)
        # Acted on, outcomes not yet written: where a kill tests the restart's recognition.
        testhooks.point(f"bulk-acted-after-{job.done + job.skipped + job.failed}")
        expires = time.time() + self.lease_ttl
        return await self._held(job.job_id, lambda c: bulk_sql.record(c, job, outcomes, expires))

    async def _act(self, job: BulkJob, saga_ids: list[str]) -> dict[str, Outcome]:
        action = self.actions[job.action]
        already = await self.store.db.read(lambda c: action.touched(c, saga_ids, job))

        async def one(saga_id: str, held: bool) -> Outcome:
            try:
                if saga_id in already:
                    return ACTED, ""
                self._check(job)
                return await action.act(job, saga_id)
            finally:
                if held:  # driven now (counted in flight), or not resumed after all
                    self.slots.give_back()

        # Distinct sagas, so their acts may share the log's commits; each resume started only
        # once it holds a place in flight.
        acts: list[asyncio.Task[Outcome]] = []
        try:
            for saga_id in saga_ids:
                held = action.drives and saga_id not in already
                if held:
                    await self._room(job)
                acts.append(asyncio.create_task(one(saga_id, held)))
        finally:  # never leave an act running unawaited (a lease lost while waiting)
            done = await asyncio.gather(*acts, return_exceptions=True)
        return dict(zip(saga_ids, map(_outcome, done), strict=True))

    async def _room(self, job: BulkJob) -> None:
        """Wait for a place in flight and hold it; new sagas are not held back for the job
        (it takes the places they leave). The job's lease is renewed meanwhile."""
        while not self.slots.take():
            if self.until.get(job.job_id, 0.0) - time.monotonic() < self.lease_ttl / 2:
                await self._renew(job)
            await asyncio.sleep(ROOM_POLL_S)


def _outcome(got: Outcome | BaseException) -> Outcome:
    """An act's outcome, or its exception raised (the job's own, as a plain gather would)."""
    if isinstance(got, BaseException):
        raise got
    return got
