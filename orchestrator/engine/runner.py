"""Drives sagas: the runner that starts, resumes, recovers and stops them.

Each concern lives in its own module: driver.py drives one saga (attempts.py its retry loop,
transitions.py its writes), claims.py and leases.py the leases, recovery.py the restart,
outbox.py the sink, following.py the watchers, cancels.py an operator's cancel. A runner
drives the live sagas whose lease it holds: those it started, resumed or claimed; it stops
driving a saga as soon as it may have lost the lease (a lapsed renewal before a call, or a
write fenced off: LeaseLost).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Collection, Iterable, Mapping
from datetime import UTC, datetime, timedelta

from orchestrator.engine.attempts import RetryLoop, begin_attempt
from orchestrator.engine.bus import EventBus
from orchestrator.engine.cancels import CancelTable
from orchestrator.engine.claims import LeaseKeeper
from orchestrator.engine.definition import SagaDefinition
from orchestrator.engine.driver import Driver
from orchestrator.engine.errors import NotResumable, SagaNotFound
from orchestrator.engine.following import Follower
from orchestrator.engine.horizon import CallHorizon
from orchestrator.engine.leases import LeaseTable
from orchestrator.engine.model import (
    FINISHED,
    CancelRequest,
    SagaEvent,
    SagaEventType,
    SagaRecord,
    SagaStatus,
    StepRecord,
    StepState,
    needs_compensation,
)
from orchestrator.engine.observer import SagaObserver
from orchestrator.engine.outbox import Outbox
from orchestrator.engine.pool import DriverPool
from orchestrator.engine.recovery import drive_recovered, reopen
from orchestrator.engine.settings import RunnerSettings, default_owner
from orchestrator.engine.sink import TerminalSink
from orchestrator.engine.store import SagaStore
from orchestrator.engine.transitions import Transitions, make_event
from sagakit import context

# Kept importable from here, where callers have always found them.
__all__ = ["RunnerSettings", "SagaRunner", "default_owner", "needs_compensation"]

log = logging.getLogger("orchestrator.saga")

# Step states of a saga that has not begun to compensate.
_FORWARD = frozenset({StepState.PENDING, StepState.EXECUTING, StepState.SUCCEEDED})
_DEFAULT_SETTINGS = RunnerSettings()


class SagaRunner:
    def __init__(
        self,
        store: SagaStore,
        definitions: Mapping[str, SagaDefinition] | Iterable[SagaDefinition],
        settings: RunnerSettings = _DEFAULT_SETTINGS,
        sink: TerminalSink | None = None,
        observer: SagaObserver | None = None,
    ) -> None:
        """`definitions`: every saga definition (and every version of one) whose sagas this
        runner drives; new sagas start under the latest version of their definition."""
        self.store = store
        self.observer = observer or SagaObserver()
        listed = list(definitions.values() if isinstance(definitions, Mapping) else definitions)
        versions = {(d.name, d.version): d for d in listed}
        self.versions: dict[tuple[str, int], SagaDefinition] = versions
        self.definitions: dict[str, SagaDefinition] = {}
        for d in sorted(listed, key=lambda d: d.version):
            self.definitions[d.name] = d
        self.settings = settings
        self.bus = EventBus()
        self.outbox = Outbox(store, sink)
        self.leases = LeaseTable()
        self.horizon = CallHorizon(settings.call_horizon)
        self.transitions = Transitions(store, self.observer, self.bus, self.outbox)
        self.cancels = CancelTable()
        attempts = RetryLoop(
            self.transitions,
            self.leases,
            self.observer,
            self.horizon,
            settings.compensation_retry,
            self.cancels,
        )
        self.drivers = DriverPool(
            Driver(versions, self.transitions, self.leases, attempts, self.cancels), self.leases
        )
        self.keeper = LeaseKeeper(
            store, settings, self.leases, self.drivers, self.observer, self.outbox, self.cancels
        )
        self.follower = Follower(self.bus, store, self.drivers, settings.follow_every)
        # Starts under way (logged or being logged, driver not yet spawned).
        self._starting: set[str] = set()
        self._recovery: asyncio.Task[int] | None = None

    # ---- starting a saga --------------------------------------------------------------

    def new_saga(
        self,
        definition: str,
        saga_id: str,
        correlation_id: str,
        payload: bytes,
        idempotency_key: str = "",
        options: str = "",
        version: int | None = None,
    ) -> SagaRecord:
        """A new saga of `definition` (its latest version unless `version` is given), not yet
        logged: start() logs and runs it."""
        if version is None:
            spec = self.definitions[definition]
        else:
            spec = self.versions[(definition, version)]
        deadline = datetime.now(UTC) + timedelta(seconds=self.settings.saga_timeout)
        return SagaRecord(
            saga_id=saga_id,
            definition=definition,
            definition_version=spec.version,
            correlation_id=correlation_id,
            payload=payload,
            steps=[StepRecord(name, i + 1) for i, name in enumerate(spec.step_names)],
            idempotency_key=idempotency_key,
            options=options,
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
        queued = f"{len(saga.steps)} steps queued"
        event = make_event(saga, SagaEventType.SAGA_STARTED, message=queued)
        # The first step's start (its intent) goes in the same commit as the saga itself.
        later: tuple[SagaEvent, ...] = ()
        if saga.steps and saga.status == SagaStatus.RUNNING:
            first = saga.steps[0]
            begin_attempt(first)
            saga.event_seq += 1
            later = (make_event(saga, SagaEventType.STEP_STARTED, first),)
        began = time.perf_counter()
        stored, created = await self.store.create(saga, event, *later, lease=lease)
        self.observer.log_written(time.perf_counter() - began)
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
                f", options: {saga.options}" if saga.options else "",
            )
            log.debug("[QUEUE] pending: %s", ", ".join(s.name for s in saga.steps))
            self.leases.until[saga.saga_id] = held_until
            self.drivers.spawn(stored, first_started=bool(later))
        return self.drivers.live.get(stored.saga_id, stored), created

    # ---- recovery and leases ----------------------------------------------------------

    async def recover(self) -> int:
        """reopen(), then drive_recovered(): how many sagas were claimed."""
        await self.reopen()
        return await self.drive_recovered()

    async def reopen(self) -> int:
        """Before serving: hand the sink what a kill kept from it, and let go of the leases
        this replica held before it restarted, so the claims pick those sagas up. A saga
        started or resumed from here on holds a fresh lease and is never claimed from under
        its driver. Returns how many leases."""
        return await reopen(self.store, self.outbox, self.settings.owner)

    async def drive_recovered(self) -> int:
        """Claim and drive every live saga nobody holds (at most `max_driving` at once), then
        keep claiming and renewing."""
        return await drive_recovered(self.keeper, self.drivers, self.settings)

    def recover_in_background(self) -> None:
        """drive_recovered() as a task (the server answers meanwhile); stop() ends it."""
        self._recovery = asyncio.create_task(self.drive_recovered(), name="saga-recovery")

    async def claim(self, recovering: bool = False) -> int:
        """Claim and drive live sagas nobody holds a lease on (see LeaseKeeper.claim)."""
        return await self.keeper.claim(recovering)

    async def renew(self) -> None:
        """Extend the leases of the sagas this runner drives; stop driving those it lost."""
        await self.keeper.renew()

    async def flush_delivered(self) -> None:
        """Clear the sagas the sink has from the outbox (one transaction for a batch)."""
        await self.outbox.flush()

    # ---- reading and following --------------------------------------------------------

    async def get(self, saga_id: str) -> SagaRecord | None:
        return await self.follower.get(saga_id)

    async def wait(self, saga_id: str, within: float | None) -> SagaRecord | None:
        """The saga once terminal, or as it stands when `within` seconds pass (whichever
        replica drives it)."""
        return await self.follower.wait(saga_id, within)

    def follow(self, saga_id: str) -> AsyncIterator[SagaEvent]:
        """The saga's events from its first, then live as they are logged, whichever replica
        drives it; ends once it is terminal."""
        return self.follower.follow(saga_id)

    def driving(self) -> Collection[str]:
        """The ids of the sagas driven here now."""
        return self.drivers.tasks.keys()

    # ---- an operator's resume ---------------------------------------------------------

    async def resume(
        self, saga_id: str, clear_options: bool, note: str = "operator resume"
    ) -> SagaRecord:
        """`note`: the message of the SAGA_RESUMED event (a bulk job's mark)."""
        saga = await self.get(saga_id)
        if saga is None:
            raise SagaNotFound(saga_id)
        if saga.status in FINISHED:
            # Refused before anything changes: a refused call leaves the options as they were.
            raise NotResumable(f"saga {saga_id} is {saga.status.value}: nothing to resume")
        if too_old := self.horizon.too_old(saga):
            raise NotResumable(f"saga {saga_id} {too_old}")
        self.observer.saga_resumed(saga, "operator")
        finishing = self.drivers.tasks.get(saga_id)
        if finishing is not None and saga.terminal:
            # Its driver has just logged FAILED and is ending: let it end, then drive anew.
            await asyncio.wait({finishing})
        if saga_id in self.drivers.tasks:
            if clear_options:
                saga.options = ""  # applies from the next attempt, logged with its start
            return saga  # already being driven
        if saga.status != SagaStatus.FAILED and not clear_options:
            holder = await self.store.owner(saga_id)
            if holder is not None and holder[0] != self.settings.owner and holder[1] > time.time():
                return saga  # another replica drives it
        return await self._take_and_drive(saga_id, clear_options, note)

    async def _take_and_drive(self, saga_id: str, clear_options: bool, note: str) -> SagaRecord:
        """Take the lease whoever holds it (a replica driving it with the faults to clear is
        fenced off from now on), and resume from what the log says now."""
        held_until = time.monotonic() + self.settings.lease_ttl
        saga = await self.store.take(
            saga_id, self.settings.owner, time.time() + self.settings.lease_ttl
        )
        if saga is None:
            raise SagaNotFound(saga_id)
        if saga.status in FINISHED:  # finished meanwhile, by the replica that drove it
            raise NotResumable(f"saga {saga_id} is {saga.status.value}: nothing to resume")
        if clear_options:
            saga.options = ""
        if saga.status == SagaStatus.FAILED:
            _reopen_failed(saga)
        self.leases.until[saga_id] = held_until
        await self.transitions.write_transition(
            saga, saga.steps, SagaEventType.SAGA_RESUMED, message=note
        )
        context.correlation_id.set(saga.correlation_id)
        log.warning("[SAGA] resumed by operator")
        self.drivers.spawn(saga)
        return saga

    # ---- an operator's cancel ---------------------------------------------------------

    async def cancel(self, saga_id: str, *, reason: str, by: str) -> SagaRecord:
        """Stop a RUNNING saga going forward and compensate what ran, last first; the saga as
        it stands once the cancel is in the log (its driver, on this replica or another, acts
        on it within a second or at once). Already compensating, or cancelled before: returned
        as it is. Raises SagaNotFound, NotCancellable (finished, or FAILED: resume it)."""
        request = CancelRequest(by, reason)
        saga = await self.store.cancel(saga_id, request)
        if saga is None:
            raise SagaNotFound(saga_id)
        driven_here = saga_id in self.drivers.tasks or saga_id in self._starting
        self.cancels.accepted(saga, request, driven_here, self.drivers.live.get(saga_id))
        return self.drivers.live.get(saga_id) or saga

    # ---- stopping ---------------------------------------------------------------------

    async def stop(self, grace: float) -> None:
        """Let running sagas finish within `grace`; release the leases of the rest, which
        another replica (or this one, restarted) resumes from the log."""
        if self._recovery is not None:
            self._recovery.cancel()
            await asyncio.gather(self._recovery, return_exceptions=True)
        self._recovery = None
        await self.keeper.stop()
        await self.drivers.stop(grace)
        await self.outbox.flush()
        try:
            await self.store.release(self.settings.owner, list(self.leases.until))
        except Exception:
            log.exception("[SAGA] could not release leases; they expire on their own")


def _reopen_failed(saga: SagaRecord) -> None:
    """A FAILED saga an operator resumes: back on its forward path if it stopped there (a
    definition it could not be driven with), else back to compensating."""
    saga.finished_at = None
    if all(s.state in _FORWARD for s in saga.steps):
        saga.status, saga.error = SagaStatus.RUNNING, ""
    else:
        saga.status = SagaStatus.COMPENSATING
        # Back to why the saga is compensating, not why the compensation got stuck.
        failed = next((s for s in saga.steps if s.error), None)
        saga.error = f"{failed.name} failed: {failed.error}" if failed else ""
        if saga.cancel is not None:
            saga.error = saga.cancel.describe()
    for st in saga.steps:
        st.compensation_round = 0
