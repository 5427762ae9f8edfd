"""Drives sagas: steps in order with retries, then compensations in reverse (LIFO).

Every transition is written to the saga log before the participant call it announces and
again with its outcome; a restarted runner resumes every live saga from the log.

An outcome (a step or compensation succeeded) is held back and written in one transaction with
the transition that follows it, which is awaited before the next participant call or the end of
the saga: one fsync for both, and still on disk before anything depends on it. A crash before
that commit leaves the step as started in the log, and recovery repeats its (idempotent) call,
exactly as after a crash just as the participant answered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import grpc

from orchestrator.engine.bus import EventBus
from orchestrator.engine.definition import RetryPolicy, SagaDefinition, StepCall, StepSpec
from orchestrator.engine.faultplan import FaultPlan
from orchestrator.engine.model import (
    NEEDS_COMPENSATION,
    TERMINAL,
    SagaEvent,
    SagaRecord,
    SagaStatus,
    StepRecord,
    StepState,
    now,
)
from orchestrator.engine.store import SagaStore, Write
from sagakit import context
from sagakit.context import CORRELATION_HEADER
from sagakit.errors import BUSINESS_FAILURE_CODES, NotFound, Rejected

log = logging.getLogger("orchestrator.saga")


@dataclass(frozen=True)
class RunnerSettings:
    saga_timeout: float = 60.0
    # Compensation attempts per round before the saga is flagged FAILED (needs an operator).
    compensation_threshold: int = 5
    compensation_retry: RetryPolicy = field(
        default_factory=lambda: RetryPolicy(max_attempts=0, base_delay=0.1, max_delay=5.0)
    )


def needs_compensation(step: StepRecord) -> bool:
    return step.state in NEEDS_COMPENSATION or (
        step.state == StepState.STEP_FAILED and step.uncertain
    )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details()}"
    if isinstance(exc, TimeoutError):
        return "DEADLINE_EXCEEDED: no answer within the step deadline"
    return f"{type(exc).__name__}: {exc}"


def _is_business_failure(exc: BaseException) -> bool:
    return isinstance(exc, grpc.aio.AioRpcError) and exc.code() in BUSINESS_FAILURE_CODES


def _is_unknown_outcome(exc: BaseException) -> bool:
    return isinstance(exc, grpc.aio.AioRpcError | TimeoutError)


class SagaRunner:
    def __init__(
        self,
        store: SagaStore,
        definitions: dict[str, SagaDefinition],
        settings: RunnerSettings = RunnerSettings(),
        on_terminal: Callable[[SagaRecord], Awaitable[None]] | None = None,
    ) -> None:
        self.store = store
        self.definitions = definitions
        self.settings = settings
        self.bus = EventBus()
        self._on_terminal = on_terminal
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._live: dict[str, SagaRecord] = {}
        # Outcomes held back for the saga's next transition (see _note), by saga.
        self._held: dict[str, list[tuple[Write, SagaEvent]]] = {}

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
            correlation_id=correlation_id,
            payload=payload,
            steps=[StepRecord(name, i + 1) for i, name in enumerate(spec.step_names)],
            idempotency_key=idempotency_key,
            fault_plan=fault_plan,
            deadline_at=deadline.isoformat(timespec="microseconds"),
        )

    async def start(self, saga: SagaRecord) -> tuple[SagaRecord, bool]:
        """Log the new saga and run it; with a known idempotency key, return the existing one."""
        saga.event_seq = 1
        event = self._event(saga, "SAGA_STARTED", message=f"{len(saga.steps)} steps queued")
        # The first step's start (its intent) goes in the same commit as the saga itself.
        later: tuple[SagaEvent, ...] = ()
        if saga.steps and saga.status == SagaStatus.RUNNING:
            first = saga.steps[0]
            _begin_attempt(first)
            saga.event_seq += 1
            later = (self._event(saga, "STEP_STARTED", first),)
        stored, created = await self.store.create(saga, event, *later)
        if created:
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
            self._spawn(stored, first_started=bool(later))
        return self._live.get(stored.saga_id, stored), created

    async def recover(self) -> int:
        """Resume every saga the log says is not terminal (after a crash or restart)."""
        sagas = await self.store.load_live()
        for saga in sagas:
            context.correlation_id.set(saga.correlation_id)
            context.saga_id.set(saga.saga_id)
            log.warning("[SAGA] recovering %s saga left %s", saga.definition, saga.status.value)
            self._spawn(saga)
        return len(sagas)

    async def get(self, saga_id: str) -> SagaRecord | None:
        return self._live.get(saga_id) or await self.store.load(saga_id)

    async def resume(self, saga_id: str, clear_faults: bool) -> SagaRecord:
        saga = await self.get(saga_id)
        if saga is None:
            raise NotFound(f"saga_id: no saga {saga_id!r}")
        if clear_faults and saga.fault_plan:
            saga.fault_plan = ""
            if saga_id not in self._tasks:
                await self.store.save(saga, [], None)
        if saga_id in self._tasks:
            return saga  # already being driven; a cleared plan applies from the next attempt
        if saga.status in (SagaStatus.COMPLETED, SagaStatus.COMPENSATED):
            raise Rejected(f"saga {saga_id} is {saga.status.value}: nothing to resume")
        if saga.status == SagaStatus.FAILED:
            saga.status = SagaStatus.COMPENSATING
            saga.finished_at = None
            # Back to why the saga is compensating at all, not why the compensation got stuck.
            failed = next((s for s in saga.steps if s.error), None)
            saga.error = f"{failed.name} failed: {failed.error}" if failed else ""
            for st in saga.steps:
                st.compensation_round = 0
        await self._transition(saga, saga.steps, "SAGA_RESUMED", message="operator resume")
        context.correlation_id.set(saga.correlation_id)
        log.warning("[SAGA] resumed by operator")
        self._spawn(saga)
        return saga

    async def wait(self, saga_id: str, within: float | None) -> SagaRecord | None:
        """The saga once terminal, or as it stands when `within` seconds pass."""
        queue = self.bus.subscribe(saga_id, only=_ends_saga)
        try:
            saga = await self.get(saga_id)
            if saga is None or saga.terminal:
                return saga
            loop = asyncio.get_running_loop()
            end = None if within is None else loop.time() + within
            while True:
                left = None if end is None else end - loop.time()
                if left is not None and left <= 0:
                    break
                try:
                    # asyncio.timeout, not wait_for: no extra task per event.
                    async with asyncio.timeout(left):
                        event = await queue.get()
                except TimeoutError:
                    break
                if event.status in TERMINAL:
                    if saga.terminal:
                        return saga  # the live record, just logged: no need to read it back
                    break
            return await self.get(saga_id)
        finally:
            self.bus.unsubscribe(saga_id, queue)

    def active(self) -> int:
        return len(self._tasks)

    def is_driving(self, saga_id: str) -> bool:
        return saga_id in self._tasks

    async def stop(self, grace: float) -> None:
        """Let running sagas finish within `grace`; the rest resume from the log on restart."""
        tasks = list(self._tasks.values())
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    # ---- driving ------------------------------------------------------------------------

    def _spawn(self, saga: SagaRecord, first_started: bool = False) -> None:
        """Drive the saga; `first_started`: its first step's start is logged already."""
        self._live[saga.saga_id] = saga
        task = asyncio.create_task(self._drive(saga, first_started), name=f"saga-{saga.saga_id}")
        self._tasks[saga.saga_id] = task

        def done(_: asyncio.Task[None]) -> None:
            self._tasks.pop(saga.saga_id, None)
            self._live.pop(saga.saga_id, None)

        task.add_done_callback(done)

    async def _drive(self, saga: SagaRecord, first_started: bool = False) -> None:
        context.correlation_id.set(saga.correlation_id)
        context.saga_id.set(saga.saga_id)
        definition = self.definitions[saga.definition]
        try:
            while not saga.terminal:
                if saga.status == SagaStatus.RUNNING:
                    await self._forward(saga, definition, first_started)
                    first_started = False
                else:
                    await self._compensate_all(saga, definition)
        except asyncio.CancelledError:
            log.info("[SAGA] driver stopped; the saga resumes from the log on restart")
            raise
        except Exception:
            log.exception("[SAGA] driver crashed; the saga stays %s", saga.status.value)
        finally:
            held = self._held.pop(saga.saga_id, None)
            if held:  # stopped between an outcome and the next transition: log it anyway
                written = self.store.save_soon([w for w, _ in held])
                written.add_done_callback(lambda f: f.cancelled() or f.exception())

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
        await self._transition(saga, [], "SAGA_COMPLETED", message=_kv(summary))
        log.info("[SAGA] completed: all %d steps succeeded %s", len(saga.steps), _kv(summary))

    def _expired(self, saga: SagaRecord) -> bool:
        return bool(saga.deadline_at) and datetime.now(UTC) >= datetime.fromisoformat(
            str(saga.deadline_at)
        )

    async def _execute(
        self, saga: SagaRecord, definition: SagaDefinition, step: StepRecord, started: bool
    ) -> bool:
        """Run the step's Do until it succeeds or fails for good; `started`: the first
        attempt's start is logged already (with the saga's creation)."""
        spec = definition.spec(step.name)
        while True:
            if started:
                started = False
            else:
                if self._expired(saga):
                    await self._fail_step(
                        saga, step, "saga deadline exceeded", unknown=step.uncertain
                    )
                    return False
                _begin_attempt(step)
                # The attempt number travels in the event's own field; no message needed.
                await self._transition(saga, [step], "STEP_STARTED", step)
            # A first attempt's start is routine (its outcome line follows): DEBUG; retries INFO.
            log.log(
                logging.INFO if step.attempts > 1 else logging.DEBUG,
                "[SAGA STEP] %s: Do attempt %d",
                step.name,
                step.attempts,
            )
            plan = FaultPlan.from_normalized(saga.fault_plan, definition.step_names)
            call = self._call(saga, spec, plan.do_metadata(step.name, step.attempts))
            try:
                async with asyncio.timeout(spec.timeout + 1.0):
                    result = await spec.action(call)
            except Exception as exc:
                error = _describe(exc)
                step.error = error
                if _is_business_failure(exc):
                    await self._fail_step(saga, step, error, unknown=False)
                    return False
                if not _is_unknown_outcome(exc):
                    log.exception("[SAGA STEP] %s: step code failed", step.name)
                    await self._fail_step(saga, step, error, unknown=False)
                    return False
                step.uncertain = True
                if step.attempts >= spec.retry.max_attempts:
                    await self._fail_step(
                        saga, step, f"{error} (after {step.attempts} attempts)", unknown=True
                    )
                    return False
                delay = spec.retry.backoff(step.attempts)
                await self._transition(
                    saga, [step], "STEP_RETRYING", step, f"{error}; retry in {delay * 1000:.0f} ms"
                )
                log.warning(
                    "[SAGA STEP] %s: %s; retrying in %.0f ms", step.name, error, delay * 1000
                )
                await asyncio.sleep(delay)
                continue
            step.state = StepState.SUCCEEDED
            step.result = result
            step.error = ""
            step.finished_at = now()
            self._note(saga, [step], "STEP_SUCCEEDED", step, _kv(result, 4))
            log.info("[SAGA STEP] %s: succeeded (attempt %d)", step.name, step.attempts)
            return True

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
        await self._transition(saga, [step, *skipped], "STEP_FAILED_EVENT", step, error)
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
                    f"compensation of {step.name} failed {step.compensation_round} times: "
                    f"{step.compensation_error}; needs an operator (ResumeSaga)"
                )
                await self._transition(saga, [step], "SAGA_FAILED", step, saga.error)
                log.error("[SAGA] FAILED: %s", saga.error)
                return
        saga.status = SagaStatus.COMPENSATED
        saga.finished_at = now()
        order = ", ".join(saga.compensation_order) or "nothing to compensate"
        await self._transition(saga, [], "SAGA_COMPENSATED", message=f"compensated: {order}")
        log.info("[SAGA] compensated (%s): %s", order, saga.error)

    async def _compensate(
        self, saga: SagaRecord, definition: SagaDefinition, step: StepRecord
    ) -> bool:
        spec = definition.spec(step.name)
        policy = self.settings.compensation_retry
        while True:
            step.compensation_attempts += 1
            step.compensation_round += 1
            step.state = StepState.COMPENSATING_STEP
            step.compensation_started_at = step.compensation_started_at or now()
            await self._transition(saga, [step], "COMPENSATION_STARTED", step)
            log.log(
                logging.INFO if step.compensation_attempts > 1 else logging.DEBUG,
                "[COMPENSATION] %s: Compensate attempt %d",
                step.name,
                step.compensation_attempts,
            )
            plan = FaultPlan.from_normalized(saga.fault_plan, definition.step_names)
            call = self._call(
                saga, spec, plan.compensate_metadata(step.name, step.compensation_attempts)
            )
            try:
                async with asyncio.timeout(spec.timeout + 1.0):
                    result = await spec.compensation(call)
            except Exception as exc:
                step.compensation_error = _describe(exc)
                if not _is_unknown_outcome(exc) and not _is_business_failure(exc):
                    log.exception("[COMPENSATION] %s: compensation code failed", step.name)
                if step.compensation_round >= self.settings.compensation_threshold:
                    step.state = StepState.COMPENSATION_FAILED
                    return False
                delay = policy.backoff(step.compensation_round)
                await self._transition(
                    saga,
                    [step],
                    "COMPENSATION_RETRYING",
                    step,
                    f"{step.compensation_error}; retry in {delay * 1000:.0f} ms",
                )
                log.warning(
                    "[COMPENSATION] %s: %s; retrying in %.0f ms",
                    step.name,
                    step.compensation_error,
                    delay * 1000,
                )
                await asyncio.sleep(delay)
                continue
            step.state = StepState.COMPENSATED_STEP
            step.compensation_result = result
            step.compensation_error = ""
            step.compensated_at = now()
            saga.compensation_order.append(step.name)
            self._note(saga, [step], "COMPENSATION_SUCCEEDED", step, _kv(result, 4))
            log.info("[COMPENSATION] %s: compensated", step.name)
            return True

    # ---- helpers ------------------------------------------------------------------------

    def _call(
        self, saga: SagaRecord, spec: StepSpec, faults: tuple[tuple[str, str], ...]
    ) -> StepCall:
        return StepCall(
            saga_id=saga.saga_id,
            payload=saga.payload,
            results=saga.results(),
            metadata=((CORRELATION_HEADER, saga.correlation_id), *faults),
            timeout=spec.timeout,
        )

    def _event(
        self,
        saga: SagaRecord,
        type_: str,
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
                if type_.startswith("COMPENSATION")
                else step.attempts
            ),
            message=message,
            correlation_id=saga.correlation_id,
        )

    async def _transition(
        self,
        saga: SagaRecord,
        steps: list[StepRecord],
        type_: str,
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
        self._held.pop(saga.saga_id, None)
        for _, earlier in held:
            self.bus.publish(earlier)
        if saga.terminal and self._on_terminal is not None:
            # Before watchers hear of the end, so whoever sees it finished finds it logged too.
            await self._on_terminal(saga)
        self.bus.publish(event)

    def _note(
        self,
        saga: SagaRecord,
        steps: list[StepRecord],
        type_: str,
        step: StepRecord | None = None,
        message: str = "",
    ) -> None:
        """Hold an outcome back for the saga's next transition, written in the same transaction.
        Only for outcomes that a transition always follows before any participant call."""
        saga.event_seq += 1
        saga.updated_at = now()
        event = self._event(saga, type_, step, message)
        write = self.store.transition(saga, steps, event)
        self._held.setdefault(saga.saga_id, []).append((write, event))


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
