"""Drives sagas: steps in order with retries, then compensations in reverse (LIFO).

Every transition is written to the saga log before the participant call it announces and
again with its outcome; a restarted runner resumes every live saga from the log.

An outcome (a step or compensation succeeded) is held back and written in one transaction with
the transition that follows it, which is awaited before the next participant call or the end of
the saga: one fsync for both, and still on disk before anything depends on it. A crash before
that commit leaves the step as started in the log, and recovery repeats its (idempotent) call,
exactly as after a crash just as the participant answered.

A runner drives the live sagas whose lease it holds (store.py): those it started, and those it
claims (at start and then every `claim_every` seconds: never leased, released by a replica
that stopped, or expired because their holder died or stalled). It renews its leases every
`lease_renew` seconds and stops driving a saga as soon as it may have lost the lease: before a
participant call it checks that its last renewal is less than `lease_ttl` old, and a write
fenced off by another replica's claim ends the driver (LeaseLost).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

from orchestrator.engine.bus import EventBus
from orchestrator.engine.definition import RetryPolicy, SagaDefinition, StepCall, StepSpec
from orchestrator.engine.errors import (
    BeyondHorizon,
    LeaseLost,
    NotResumable,
    SagaNotFound,
    StepFailed,
    StepRefused,
    StepUnreachable,
)
from orchestrator.engine.model import (
    FINISHED,
    NEEDS_COMPENSATION,
    TERMINAL,
    SagaEvent,
    SagaEventType,
    SagaRecord,
    SagaStatus,
    StepRecord,
    StepState,
    now,
)
from orchestrator.engine.observer import Attempt, SagaObserver
from orchestrator.engine.sink import TerminalSink
from orchestrator.engine.store import SagaStore, Write
from sagakit import context
from sagakit.retention import cutoff

log = logging.getLogger("orchestrator.saga")


@dataclass(frozen=True)
class RunnerSettings:
    saga_timeout: float = 60.0
    # A compensation is retried until it succeeds; the saga is flagged FAILED (an operator's
    # turn) once the participant has been unreachable for `retry_for` seconds, or has answered
    # `max_attempts` times that the compensation failed.
    compensation_retry: RetryPolicy = field(
        default_factory=lambda: RetryPolicy(
            max_attempts=5, base_delay=0.1, max_delay=10.0, retry_for=300.0
        )
    )
    # This replica's name in the leases, and how long a lease lasts unless renewed.
    owner: str = field(default_factory=lambda: default_owner())
    lease_ttl: float = 10.0
    lease_renew: float = 0.0  # 0: a third of lease_ttl
    # How often the runner claims live sagas nobody holds (0: only when claim() is called),
    # and how many at a time.
    claim_every: float = 1.0
    claim_batch: int = 100
    # Claims stop while this many sagas are driven here (recovery after a crash with thousands
    # of live sagas, a takeover): the rest keep their expired leases until there is room.
    max_driving: int = 256
    # How often a watcher of a saga driven elsewhere (another replica) reads its new events.
    follow_every: float = 0.05
    # Seconds after its start past which a saga gets no participant call (None: any age): the
    # participants may have deleted its barrier marks by then (BARRIER_RETENTION minus a
    # margin). Such a saga is stopped FAILED with the reason instead.
    call_horizon: float | None = None

    @property
    def renew_every(self) -> float:
        return self.lease_renew or self.lease_ttl / 3


def default_owner() -> str:
    """ORCHESTRATOR_ID's default: unique among processes running at once."""
    return f"{socket.gethostname()}-{os.getpid()}"


def needs_compensation(step: StepRecord) -> bool:
    return step.state in NEEDS_COMPENSATION or (
        step.state == StepState.STEP_FAILED and step.uncertain
    )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, StepFailed):
        return str(exc)
    if isinstance(exc, TimeoutError):
        return "DEADLINE_EXCEEDED: no answer within the step deadline"
    return f"{type(exc).__name__}: {exc}"


class Verdict(Enum):
    """What a failed call says about the participant's side."""

    REFUSED = "refused"  # a definitive business answer: nothing was done
    UNREACHABLE = "unreachable"  # no answer: it may have run; retry while the budget lasts
    ERRORED = "errored"  # an answer that failed without saying what happened: may have run


def _verdict(exc: BaseException) -> Verdict:
    if isinstance(exc, StepRefused):
        return Verdict.REFUSED
    if isinstance(exc, StepUnreachable | TimeoutError):
        return Verdict.UNREACHABLE
    # Anything else (a bug in step code, a reply that would not parse) happened somewhere
    # around the call: the participant may have acted, so it is never "did not run".
    return Verdict.ERRORED


def _at(timestamp: str | None) -> datetime:
    return datetime.fromisoformat(timestamp) if timestamp else datetime.now(UTC)


@dataclass
class _Attempts:
    """The outcome of one retry loop (Do or Compensate) over a step."""

    ok: bool
    result: dict[str, Any] | None = None
    error: str = ""
    verdict: Verdict | None = None


class SagaRunner:
    def __init__(
        self,
        store: SagaStore,
        definitions: Mapping[str, SagaDefinition] | Iterable[SagaDefinition],
        settings: RunnerSettings = RunnerSettings(),
        sink: TerminalSink | None = None,
        observer: SagaObserver | None = None,
    ) -> None:
        """`definitions`: every saga definition (and every version of one) whose sagas this
        runner drives; new sagas start under the latest version of their definition."""
        self.store = store
        self.observer = observer or SagaObserver()
        listed = list(definitions.values() if isinstance(definitions, Mapping) else definitions)
        self._versions = {(d.name, d.version): d for d in listed}
        self.definitions: dict[str, SagaDefinition] = {}
        for d in sorted(listed, key=lambda d: d.version):
            self.definitions[d.name] = d
        self.settings = settings
        self.bus = EventBus()
        self._sink = sink
        # Sagas the sink has, still to be cleared from the saga log's outbox (in batches).
        self._sunk: list[str] = []
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._live: dict[str, SagaRecord] = {}
        # Outcomes held back for the saga's next transition (see _note), by saga.
        self._held: dict[str, list[tuple[Write, SagaEvent]]] = {}
        # Starts under way (logged or being logged, driver not yet spawned).
        self._starting: set[str] = set()
        # saga id -> monotonic time until which this runner surely holds its lease.
        self._leases: dict[str, float] = {}
        self._lost: set[str] = set()  # drivers being stopped because their lease went elsewhere
        self._last_renew = time.monotonic()
        # (saga id, lease epoch) of drivers that ended since the last renewal: their leases go.
        self._ended: list[tuple[str, int]] = []
        self._keeper: asyncio.Task[None] | None = None
        self._recovery: asyncio.Task[int] | None = None
        self._freed = asyncio.Event()  # a driver ended: room to claim another saga
        self._horizon_cutoff, self._horizon_until = "", float("-inf")  # see _beyond_horizon

    # ---- entry points -------------------------------------------------------------------

    def new_saga(
        self,
        definition: str,
        saga_id: str,
        correlation_id: str,
        payload: bytes,
        idempotency_key: str = "",
        fault_plan: str = "",
    ) -> SagaRecord:
        spec = self.definitions[definition]
        deadline = datetime.now(UTC) + timedelta(seconds=self.settings.saga_timeout)
        return SagaRecord(
            saga_id=saga_id,
            definition=definition,
            definition_version=spec.version,
            correlation_id=correlation_id,
            payload=payload,
            steps=[StepRecord(name, i + 1) for i, name in enumerate(spec.step_names)],
            idempotency_key=idempotency_key,
            fault_plan=fault_plan,
            deadline_at=deadline.isoformat(timespec="microseconds"),
            lease_epoch=1,
        )

    async def start(self, saga: SagaRecord) -> tuple[SagaRecord, bool]:
        """Log the new saga and run it; with a known idempotency key, return the existing one.

        Logging and spawning the driver happen in a task of their own, shielded from the
        caller: a caller that hangs up (its deadline passes, it is cancelled) while the saga is
        being logged cannot leave a logged saga that nobody drives.
        """
        self._starting.add(saga.saga_id)
        task = asyncio.create_task(self._log_and_spawn(saga), name=f"start-{saga.saga_id}")
        task.add_done_callback(lambda _: self._starting.discard(saga.saga_id))
        return await asyncio.shield(task)

    async def _log_and_spawn(self, saga: SagaRecord) -> tuple[SagaRecord, bool]:
        saga.event_seq = 1
        held_until = time.monotonic() + self.settings.lease_ttl
        lease = (self.settings.owner, time.time() + self.settings.lease_ttl)
        event = self._event(
            saga, SagaEventType.SAGA_STARTED, message=f"{len(saga.steps)} steps queued"
        )
        # The first step's start (its intent) goes in the same commit as the saga itself.
        later: tuple[SagaEvent, ...] = ()
        if saga.steps and saga.status == SagaStatus.RUNNING:
            first = saga.steps[0]
            _begin_attempt(first)
            saga.event_seq += 1
            later = (self._event(saga, SagaEventType.STEP_STARTED, first),)
        stored, created = await self.store.create(saga, event, *later, lease=lease)
        if created:
            self.observer.saga_started(stored)
            self.bus.publish(event)
            for e in later:
                self.bus.publish(e)
            context.saga_id.set(saga.saga_id)
            log.info(
                "[SAGA] started %s (%d steps)%s",
                saga.definition,
                len(saga.steps),
                f", faults: {saga.fault_plan}" if saga.fault_plan else "",
            )
            log.debug("[QUEUE] pending: %s", ", ".join(s.name for s in saga.steps))
            self._leases[saga.saga_id] = held_until
            self._spawn(stored, first_started=bool(later))
        return self._live.get(stored.saga_id, stored), created

    async def recover(self) -> int:
        """reopen(), then drive_recovered(): how many sagas were claimed."""
        await self.reopen()
        return await self.drive_recovered()

    async def reopen(self) -> int:
        """Before serving: hand the sink what a kill kept from it, and let go of the leases
        this replica held before it restarted (on a SQLite log, which one process owns, every
        lease), so the claims pick those sagas up. A saga started or resumed from here on holds
        a fresh lease and is never claimed from under its driver. Returns how many leases."""
        await self._reconcile_sink()
        return await self.store.expire_leases(self.settings.owner if self.store.shared else None)

    async def drive_recovered(self) -> int:
        """Claim and drive every live saga nobody holds, never more than `max_driving` driven
        here at once: the first ones finish at full speed instead of ten thousand sharing the
        loop (issue 17: 10k unfinished sagas took 378 s, the server answering nothing
        meanwhile). Then keep claiming and renewing; the keeper starts first, so the leases of
        the sagas recovered early are renewed while the rest wait their turn."""
        if self._keeper is None and self.settings.claim_every > 0:
            self._keeper = asyncio.create_task(self._keep_forever(), name="saga-leases")
        count = 0
        while True:
            while self._room() <= 0:
                self._freed.clear()
                await self._freed.wait()
            wanted = min(self.settings.claim_batch, self._room())
            claimed = await self.claim(recovering=True)
            count += claimed
            if claimed < wanted:
                return count

    def recover_in_background(self) -> None:
        """drive_recovered() as a task (the server answers meanwhile); stop() ends it."""
        self._recovery = asyncio.create_task(self.drive_recovered(), name="saga-recovery")

    def _room(self) -> int:
        return self.settings.max_driving - len(self._tasks)

    async def claim(self, recovering: bool = False) -> int:
        """Claim and drive live sagas nobody holds a lease on: never leased, released by a
        replica that stopped, or expired (their holder died, stalled or lost the database, or
        this replica before it restarted: see reopen). `recovering`: only how it is logged.
        At most as many as leave `max_driving` sagas driven here."""
        limit = min(self.settings.claim_batch, self._room())
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
            stale = self._tasks.get(saga.saga_id)
            if stale is not None:  # a driver of ours that outlived its lease: it is fenced off
                self._lost.add(saga.saga_id)
                stale.cancel()
                await asyncio.gather(stale, return_exceptions=True)
            self._leases[saga.saga_id] = held_until
            self.observer.saga_resumed(saga, "recovered" if recovering else "adopted")
            self._spawn(saga)
        return len(sagas)

    async def renew(self) -> None:
        """Extend the leases of the sagas this runner drives; stop driving those it lost."""
        leases = {i: s.lease_epoch for i, s in self._live.items() if i in self._tasks}
        ended, self._ended = self._ended, []
        began = time.monotonic()
        try:
            held = await self.store.renew(
                self.settings.owner, leases, time.time() + self.settings.lease_ttl, ended
            )
        except BaseException:
            self._ended.extend(ended)
            raise
        self._last_renew = began
        for saga_id in leases:
            if saga_id in held:
                self._leases[saga_id] = began + self.settings.lease_ttl
            elif (task := self._tasks.get(saga_id)) is not None and not task.done():
                # (A driver that ended already, its own write fenced off, said so itself.)
                context.saga_id.set(saga_id)
                log.warning("[SAGA] lease lost to another replica; no longer driving it")
                self._lost.add(saga_id)
                task.cancel()

    async def _keep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.claim_every)
            try:
                if time.monotonic() - self._last_renew >= self.settings.renew_every:
                    await self.renew()
                await self.flush_sunk()
                await self.claim()
            except Exception:
                log.exception("[SAGA] housekeeping failed (leases, outbox); trying again")

    async def _reconcile_sink(self) -> None:
        if self._sink is None or not self.store.outbox:
            return
        ids, checkpoint = await self.store.undelivered()
        if not ids:
            return
        sagas = [s for s in [await self.store.load(i) for i in ids] if s and s.status in FINISHED]
        missing = await self._sink.missing(checkpoint, sagas)
        for saga in missing:
            await self._sink.append(saga)
        if missing:
            log.warning(
                "[SAGA] %d finished saga(s) were missing from the bookings log after a stop; "
                "appended: %s",
                len(missing),
                ", ".join(s.saga_id for s in missing),
            )
        await self.store.mark_delivered(ids, self._sink.checkpoint(ids))

    async def flush_sunk(self) -> None:
        """Clear the sagas the sink has from the outbox (one transaction for a batch)."""
        if self._sink is None or not self._sunk:
            return
        ids, self._sunk = self._sunk, []
        await self.store.mark_delivered(ids, self._sink.checkpoint(ids))

    async def get(self, saga_id: str) -> SagaRecord | None:
        return self._live.get(saga_id) or await self.store.load(saga_id)

    async def resume(self, saga_id: str, clear_faults: bool) -> SagaRecord:
        saga = await self.get(saga_id)
        if saga is None:
            raise SagaNotFound(saga_id)
        if saga.status in FINISHED:
            # Refused before anything changes: a refused call leaves the fault plan as it was.
            raise NotResumable(f"saga {saga_id} is {saga.status.value}: nothing to resume")
        if too_old := self._beyond_horizon(saga):
            raise NotResumable(f"saga {saga_id} {too_old}")
        self.observer.saga_resumed(saga, "operator")
        finishing = self._tasks.get(saga_id)
        if finishing is not None and saga.terminal:
            # Its driver has just logged FAILED and is ending: let it end, then drive anew.
            await asyncio.wait({finishing})
        if saga_id in self._tasks:
            if clear_faults:
                saga.fault_plan = ""  # applies from the next attempt, logged with its start
            return saga  # already being driven
        if saga.status != SagaStatus.FAILED and not clear_faults:
            holder = await self.store.owner(saga_id)
            if holder is not None and holder[0] != self.settings.owner and holder[1] > time.time():
                return saga  # another replica drives it
        # Take the lease whoever holds it (a replica driving it with the faults to clear is
        # fenced off from now on), and resume from what the log says now.
        held_until = time.monotonic() + self.settings.lease_ttl
        taken = await self.store.take(
            saga_id, self.settings.owner, time.time() + self.settings.lease_ttl
        )
        if taken is None:
            raise SagaNotFound(saga_id)
        saga = taken
        if saga.status in FINISHED:  # finished meanwhile, by the replica that drove it
            raise NotResumable(f"saga {saga_id} is {saga.status.value}: nothing to resume")
        if clear_faults:
            saga.fault_plan = ""
        if saga.status == SagaStatus.FAILED:
            saga.finished_at = None
            if all(s.state in _FORWARD for s in saga.steps):
                # Stopped on its forward path (a definition it could not be driven with): on.
                saga.status, saga.error = SagaStatus.RUNNING, ""
            else:
                saga.status = SagaStatus.COMPENSATING
                # Back to why the saga is compensating, not why the compensation got stuck.
                failed = next((s for s in saga.steps if s.error), None)
                saga.error = f"{failed.name} failed: {failed.error}" if failed else ""
            for st in saga.steps:
                st.compensation_round = 0
        self._leases[saga_id] = held_until
        await self._transition(
            saga, saga.steps, SagaEventType.SAGA_RESUMED, message="operator resume"
        )
        context.correlation_id.set(saga.correlation_id)
        log.warning("[SAGA] resumed by operator")
        self._spawn(saga)
        return saga

    async def wait(self, saga_id: str, within: float | None) -> SagaRecord | None:
        """The saga once terminal, or as it stands when `within` seconds pass (whichever
        replica drives it)."""
        queue = self.bus.subscribe(saga_id, only=_ends_saga)
        try:
            saga = await self.get(saga_id)
            if saga is None or saga.terminal:
                return saga
            loop = asyncio.get_running_loop()
            end = None if within is None else loop.time() + within
            while True:
                here = self.is_driving(saga_id)
                # Driven here, its end is published here (woken every second anyway, in case
                # the lease goes elsewhere); driven by another replica, read the log.
                poll = 1.0 if here else self.settings.follow_every * 2
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
        """The saga's events from its first, then live as they are logged, whichever replica
        drives it; ends once it is terminal (at once for one already terminal and driven by
        nobody here)."""
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
                if status in TERMINAL and not self.is_driving(saga_id):
                    return
                here = self.is_driving(saga_id)
                try:
                    async with asyncio.timeout(1.0 if here else self.settings.follow_every):
                        await queue.get()
                except TimeoutError:
                    pass
                while not queue.empty():  # the log has them all: read once for the lot
                    queue.get_nowait()
        finally:
            self.bus.unsubscribe(saga_id, queue)

    def active(self) -> int:
        return len(self._tasks)

    def is_driving(self, saga_id: str) -> bool:
        return saga_id in self._tasks

    async def stop(self, grace: float) -> None:
        """Let running sagas finish within `grace`; release the leases of the rest, which
        another replica (or this one, restarted) resumes from the log."""
        for background in (self._recovery, self._keeper):
            if background is not None:
                background.cancel()
                await asyncio.gather(background, return_exceptions=True)
        self._recovery = self._keeper = None
        tasks = list(self._tasks.values())
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self.flush_sunk()
        try:
            await self.store.release(self.settings.owner, list(self._leases))
        except Exception:
            log.exception("[SAGA] could not release leases; they expire on their own")

    # ---- driving ------------------------------------------------------------------------

    def _spawn(self, saga: SagaRecord, first_started: bool = False) -> None:
        """Drive the saga; `first_started`: its first step's start is logged already."""
        self._live[saga.saga_id] = saga
        task = asyncio.create_task(self._drive(saga, first_started), name=f"saga-{saga.saga_id}")
        self._tasks[saga.saga_id] = task
        epoch = saga.lease_epoch

        def done(_: asyncio.Task[None]) -> None:
            if self._tasks.get(saga.saga_id) is task:
                self._tasks.pop(saga.saga_id, None)
                self._live.pop(saga.saga_id, None)
                self._leases.pop(saga.saga_id, None)
            self._ended.append((saga.saga_id, epoch))
            self._freed.set()

        task.add_done_callback(done)

    async def _drive(self, saga: SagaRecord, first_started: bool = False) -> None:
        context.correlation_id.set(saga.correlation_id)
        context.saga_id.set(saga.saga_id)
        try:
            definition = self._versions.get((saga.definition, saga.definition_version))
            problem = self._mismatch(saga, definition)
            if problem or definition is None:
                await self._stop_loudly(saga, problem)
                return
            while not saga.terminal:
                if saga.status == SagaStatus.RUNNING:
                    await self._forward(saga, definition, first_started)
                    first_started = False
                else:
                    await self._compensate_all(saga, definition)
        except BeyondHorizon as exc:
            await self._stop_loudly(saga, str(exc))
        except LeaseLost:
            if saga.saga_id not in self._lost:  # else renew() or claim() said so already
                log.warning("[SAGA] lease lost to another replica; it drives the saga from here")
        except asyncio.CancelledError:
            if saga.saga_id in self._lost:
                return  # renew() or claim() found the lease gone, and said so
            log.info("[SAGA] driver stopped; the saga resumes from the log on restart")
            raise
        except Exception:
            log.exception("[SAGA] driver crashed; the saga stays %s", saga.status.value)
        finally:
            lost = saga.saga_id in self._lost
            self._lost.discard(saga.saga_id)
            held = self._held.pop(saga.saga_id, None)
            if held and not lost:  # stopped between an outcome and the next transition
                written = self.store.save_soon([w for w, _ in held])
                written.add_done_callback(lambda f: f.cancelled() or f.exception())

    def _mismatch(self, saga: SagaRecord, definition: SagaDefinition | None) -> str:
        """Why this runner cannot drive the saga with the definition it started under, if so."""
        if definition is None:
            have = sorted(v for n, v in self._versions if n == saga.definition)
            known = ", ".join(f"v{v}" for v in have) or "none"
            return (
                f"started under {saga.definition} v{saga.definition_version}, which this "
                f"orchestrator does not have (its versions: {known}); run one that has it, "
                "then ResumeSaga"
            )
        names = [s.name for s in saga.steps]
        if tuple(names) != definition.step_names:
            return (
                f"its steps ({', '.join(names)}) are not those of {definition.name} "
                f"v{definition.version} ({', '.join(definition.step_names)})"
            )
        return ""

    def _beyond_horizon(self, saga: SagaRecord) -> str:
        """Why no participant call may be made for the saga any more (too old), if so."""
        horizon = self.settings.call_horizon
        if horizon is None:
            return ""
        # Before every participant call: the cutoff is worked out once a second (the horizon
        # is hours long and keeps a margin), not formatted per call.
        at = time.monotonic()
        if at >= self._horizon_until:
            self._horizon_cutoff, self._horizon_until = cutoff(horizon), at + 1.0
        if saga.created_at >= self._horizon_cutoff:
            return ""
        return (
            f"started at {saga.created_at}, more than {horizon / 3600:g} h ago (BARRIER_RETENTION"
            " less its margin): its participants may have deleted its barrier marks, so no call"
            " is made for it any more; settle its steps with the participants by hand"
        )

    async def _stop_loudly(self, saga: SagaRecord, problem: str) -> None:
        """A saga this runner must not drive: FAILED (an operator's turn), with the reason."""
        saga.status = SagaStatus.FAILED
        saga.finished_at = now()
        saga.error = f"cannot be driven: {problem}"
        await self._transition(saga, [], SagaEventType.SAGA_FAILED, message=saga.error)
        log.error("[SAGA] FAILED: %s", saga.error)

    async def _forward(
        self, saga: SagaRecord, definition: SagaDefinition, first_started: bool = False
    ) -> None:
        for step in saga.steps:
            if step.state == StepState.SUCCEEDED:
                continue
            if not await self._execute(saga, definition, step, first_started):
                return
            first_started = False
        saga.status = SagaStatus.COMPLETED
        saga.finished_at = now()
        summary = definition.summarize(saga.results())
        await self._transition(saga, [], SagaEventType.SAGA_COMPLETED, message=_kv(summary))
        log.info("[SAGA] completed: all %d steps succeeded %s", len(saga.steps), _kv(summary))

    def _expired(self, saga: SagaRecord) -> bool:
        return bool(saga.deadline_at) and datetime.now(UTC) >= _at(saga.deadline_at)

    async def _execute(
        self, saga: SagaRecord, definition: SagaDefinition, step: StepRecord, started: bool
    ) -> bool:
        """Run the step's Do until it succeeds or fails for good; `started`: the first
        attempt's start is logged already (with the saga's creation)."""
        spec = definition.spec(step.name)
        assert spec is not None, "checked by _mismatch before driving"
        outcome = await self._attempts(saga, definition, spec, step, forward=True, started=started)
        if not outcome.ok:
            # Unknown unless the participant said no and never might have said yes: an attempt
            # that got no definitive answer (even one cut off by a crash, logged as started
            # only) may have committed, so the step is compensated too.
            unknown = outcome.verdict != Verdict.REFUSED and step.attempts > 0
            await self._fail_step(saga, step, outcome.error, unknown=unknown)
            return False
        step.state = StepState.SUCCEEDED
        step.result = outcome.result
        step.error = ""
        step.finished_at = now()
        self._note(saga, [step], SagaEventType.STEP_SUCCEEDED, step, _kv(outcome.result, 4))
        log.info("[SAGA STEP] %s: succeeded (attempt %d)", step.name, step.attempts)
        return True

    async def _attempts(
        self,
        saga: SagaRecord,
        definition: SagaDefinition,
        spec: StepSpec,
        step: StepRecord,
        forward: bool,
        started: bool = False,
    ) -> _Attempts:
        """The one retry loop, for a step's Do (`forward`) and for its Compensate.

        Each attempt's start is logged before the call. Failures are retried with capped
        exponential backoff: while the participant cannot be reached, until the policy's time
        budget is spent (for a Do, never past the saga deadline); after answers that failed
        without saying what happened, up to its attempt count. A Do the participant refuses
        ends at once; a refused Compensate counts as a failed attempt.
        """
        policy = spec.retry if forward else self.settings.compensation_retry
        what, label = ("Do", "[SAGA STEP]") if forward else ("Compensate", "[COMPENSATION]")
        started_type, retrying_type = (
            (SagaEventType.STEP_STARTED, SagaEventType.STEP_RETRYING)
            if forward
            else (SagaEventType.COMPENSATION_STARTED, SagaEventType.COMPENSATION_RETRYING)
        )
        # The time budget counts from this loop's start: after a restart, the time the
        # orchestrator itself was down is not time the participant was unreachable.
        began = datetime.now(UTC)
        until = began + timedelta(seconds=policy.retry_for)
        if forward and saga.deadline_at:
            until = min(until, _at(saga.deadline_at))
        tries = errored = 0
        while True:
            if started:
                started = False
            else:
                if forward and self._expired(saga):
                    return _Attempts(False, error="saga deadline exceeded")
                if too_old := self._beyond_horizon(saga):
                    raise BeyondHorizon(too_old)
                self._begin(step, forward)
                await self._transition(saga, [step], started_type, step)
            tries += 1
            attempt = step.attempts if forward else step.compensation_attempts
            # A first attempt's start is routine (its outcome line follows): DEBUG; retries INFO.
            log.log(
                logging.INFO if attempt > 1 else logging.DEBUG,
                "%s %s: %s attempt %d",
                label,
                step.name,
                what,
                attempt,
            )
            fn = spec.action if forward else spec.compensation
            # No call on a lease that may have lapsed (this process stalled, or its renewals
            # failed): another replica may be driving the saga by now.
            if time.monotonic() >= self._leases.get(saga.saga_id, 0.0):
                raise LeaseLost(f"saga {saga.saga_id}: lease not renewed in time")
            try:
                async with asyncio.timeout(spec.timeout + 1.0):
                    call = Attempt(saga, step.name, what, attempt)
                    result = await self.observer.attempt(call, fn(self._call(saga, spec, attempt)))
            except Exception as exc:
                error, verdict = _describe(exc), _verdict(exc)
                if verdict == Verdict.ERRORED and not isinstance(exc, StepFailed):
                    log.exception("%s %s: %s code failed", label, step.name, what)
                if forward:
                    step.error = error
                    if verdict == Verdict.REFUSED:
                        return _Attempts(False, error=error, verdict=verdict)
                    step.uncertain = True
                else:
                    step.compensation_error = error
                    step.compensation_round += 1
                left = (until - datetime.now(UTC)).total_seconds()
                if verdict == Verdict.UNREACHABLE:
                    if left <= 0:
                        why = f"no answer for {(datetime.now(UTC) - began).total_seconds():.1f} s"
                        return _Attempts(False, error=f"{error} ({why})", verdict=verdict)
                else:
                    errored += 1
                    if errored >= policy.max_attempts:
                        why = f"failed {errored} times"
                        return _Attempts(False, error=f"{error} ({why})", verdict=verdict)
                # An errored attempt is retried even past the time budget, up to its count.
                delay = policy.backoff(tries)
                if verdict == Verdict.UNREACHABLE:
                    delay = min(delay, left)
                await self._transition(
                    saga, [step], retrying_type, step,
                    f"{error}; retry in {delay * 1000:.0f} ms",
                )  # fmt: skip
                log.warning("%s %s: %s; retrying in %.0f ms", label, step.name, error, delay * 1000)
                await asyncio.sleep(delay)
                continue
            return _Attempts(True, result=result)

    def _begin(self, step: StepRecord, forward: bool) -> None:
        if forward:
            _begin_attempt(step)
            return
        step.compensation_attempts += 1
        step.state = StepState.COMPENSATING_STEP
        step.compensation_started_at = step.compensation_started_at or now()

    async def _fail_step(
        self, saga: SagaRecord, step: StepRecord, error: str, unknown: bool
    ) -> None:
        step.state = StepState.UNKNOWN_OUTCOME if unknown else StepState.STEP_FAILED
        step.error = error
        step.finished_at = now()
        skipped = [s for s in saga.steps if s.state == StepState.PENDING]
        for s in skipped:
            s.state = StepState.SKIPPED
        saga.status = SagaStatus.COMPENSATING
        saga.error = f"{step.name} failed: {error}"
        await self._transition(saga, [step, *skipped], SagaEventType.STEP_FAILED_EVENT, step, error)
        stack = [s.name for s in reversed(saga.steps) if needs_compensation(s)]
        log.warning("[SAGA STEP] %s: failed: %s", step.name, error)
        log.info("[QUEUE] compensation stack (LIFO): %s", ", ".join(stack) or "empty")

    async def _compensate_all(self, saga: SagaRecord, definition: SagaDefinition) -> None:
        for step in reversed(saga.steps):
            if not needs_compensation(step):
                continue
            if not await self._compensate(saga, definition, step):
                saga.status = SagaStatus.FAILED
                saga.finished_at = now()
                saga.error = (
                    f"compensation of {step.name} failed: {step.compensation_error}; "
                    "needs an operator (ResumeSaga)"
                )
                await self._transition(saga, [step], SagaEventType.SAGA_FAILED, step, saga.error)
                log.error("[SAGA] FAILED: %s", saga.error)
                return
        saga.status = SagaStatus.COMPENSATED
        saga.finished_at = now()
        order = ", ".join(saga.compensation_order) or "nothing to compensate"
        await self._transition(
            saga, [], SagaEventType.SAGA_COMPENSATED, message=f"compensated: {order}"
        )
        log.info("[SAGA] compensated (%s): %s", order, saga.error)

    async def _compensate(
        self, saga: SagaRecord, definition: SagaDefinition, step: StepRecord
    ) -> bool:
        spec = definition.spec(step.name)
        assert spec is not None, "checked by _mismatch before driving"
        outcome = await self._attempts(saga, definition, spec, step, forward=False)
        if not outcome.ok:
            step.state = StepState.COMPENSATION_FAILED
            step.compensation_error = outcome.error
            return False
        step.state = StepState.COMPENSATED_STEP
        step.compensation_result = outcome.result
        step.compensation_error = ""
        step.compensated_at = now()
        saga.compensation_order.append(step.name)
        self._note(saga, [step], SagaEventType.COMPENSATION_SUCCEEDED, step, _kv(outcome.result, 4))
        log.info("[COMPENSATION] %s: compensated", step.name)
        return True

    # ---- helpers ------------------------------------------------------------------------

    def _call(self, saga: SagaRecord, spec: StepSpec, attempt: int) -> StepCall:
        return StepCall(
            saga_id=saga.saga_id,
            payload=saga.payload,
            results=saga.results(),
            timeout=spec.timeout,
            correlation_id=saga.correlation_id,
            # Read at each attempt: ResumeSaga(clear_faults) applies from the next one.
            options=saga.fault_plan,
            attempt=attempt,
        )

    def _event(
        self,
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

    async def _transition(
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
        event = self._event(saga, type_, step, message)
        held = self._held.get(saga.saga_id, [])
        await self.store.save(saga, steps, event, [w for w, _ in held])
        self.observer.saga_changed(saga, event)
        self._held.pop(saga.saga_id, None)
        for _, earlier in held:
            self.bus.publish(earlier)
        if saga.status in FINISHED and self._sink is not None:
            # Before watchers hear of the end, so whoever sees it finished finds it logged too.
            try:
                await self._sink.append(saga)
                self._sunk.append(saga.saga_id)
            except Exception:
                # Still in the outbox: appended at the next start.
                log.exception("[SAGA] could not write the finished saga to the bookings log")
        self.bus.publish(event)

    def _note(
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
        event = self._event(saga, type_, step, message)
        write = self.store.transition(saga, steps, event)
        self.observer.saga_changed(saga, event)
        self._held.setdefault(saga.saga_id, []).append((write, event))


# Step states of a saga that has not begun to compensate.
_FORWARD = frozenset({StepState.PENDING, StepState.EXECUTING, StepState.SUCCEEDED})


def _begin_attempt(step: StepRecord) -> None:
    step.attempts += 1
    step.state = StepState.EXECUTING
    step.started_at = step.started_at or now()


def _ends_saga(event: SagaEvent) -> bool:
    return event.status in TERMINAL


def _kv(values: dict[str, object] | None, limit: int = 8) -> str:
    if not values:
        return ""
    items = list(values.items())[:limit]
    return " ".join(f"{k}={v}" for k, v in items if not isinstance(v, dict | list))
