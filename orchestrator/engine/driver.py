"""Driving one saga: steps in order, then compensations in reverse (LIFO), to its end.

Every transition is written before the participant call it announces (attempts.py) and again
with its outcome, which is held back for the next transition (transitions.py). A crash before
that commit leaves the step as started in the log, and recovery repeats its (idempotent) call.
A saga this runner cannot drive (unknown definition version, too old to call) ends FAILED.
An operator's cancel stops the forward path: the step in flight may have run, so it is
compensated with the steps before it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from orchestrator.engine.attempts import RetryLoop, Verdict
from orchestrator.engine.cancels import CancelTable
from orchestrator.engine.definition import SagaDefinition
from orchestrator.engine.errors import BeyondHorizon, CancelRequested, LeaseLost
from orchestrator.engine.leases import LeaseTable
from orchestrator.engine.model import (
    CancelRequest,
    SagaEventType,
    SagaRecord,
    SagaStatus,
    StepRecord,
    StepState,
    needs_compensation,
    now,
)
from orchestrator.engine.transitions import Transitions
from sagakit import context
from sagakit.db import DatabaseUnavailable

log = logging.getLogger("orchestrator.saga")


class Driver:
    def __init__(
        self,
        versions: Mapping[tuple[str, int], SagaDefinition],
        transitions: Transitions,
        leases: LeaseTable,
        attempts: RetryLoop,
        cancels: CancelTable,
    ) -> None:
        self.cancels = cancels
        self.versions = versions
        self.transitions = transitions
        self.leases = leases
        self.attempts = attempts

    async def drive(self, saga: SagaRecord, first_started: bool = False) -> None:
        """Drive the saga until it is terminal or this runner may no longer drive it;
        `first_started`: its first step's start is logged already."""
        context.correlation_id.set(saga.correlation_id)
        context.saga_id.set(saga.saga_id)
        try:
            await self._run(saga, first_started)
        except BeyondHorizon as exc:
            await self.stop_loudly(saga, str(exc))
        except LeaseLost:
            if saga.saga_id not in self.leases.lost:  # else renew() or claim() said so already
                log.warning("[SAGA] lease lost to another replica; it drives the saga from here")
        except DatabaseUnavailable as exc:
            # Nothing of the transition was written. Its lease is let go at the next renewal
            # (or expires), and whichever replica claims the saga resumes it from the log.
            log.warning("[SAGA] saga log unavailable (%s); stopped driving the saga", exc)
        except asyncio.CancelledError:
            if saga.saga_id in self.leases.lost:
                return  # renew() or claim() found the lease gone, and said so
            log.info("[SAGA] driver stopped; the saga resumes from the log on restart")
            raise
        except Exception:
            log.exception("[SAGA] driver crashed; the saga stays %s", saga.status.value)
        finally:
            lost = saga.saga_id in self.leases.lost
            self.leases.lost.discard(saga.saga_id)
            self.cancels.forget(saga.saga_id)
            # Stopped between an outcome and the next transition: write what it held back.
            self.transitions.settle_held(saga.saga_id, write=not lost)

    async def _run(self, saga: SagaRecord, first_started: bool) -> None:
        definition = self.versions.get((saga.definition, saga.definition_version))
        problem = self.mismatch(saga, definition)
        if problem or definition is None:
            await self.stop_loudly(saga, problem)
            return
        while not saga.terminal:
            if saga.status == SagaStatus.RUNNING:
                await self._forward(saga, definition, first_started)
                first_started = False
            else:
                await self._compensate_all(saga, definition)

    def mismatch(self, saga: SagaRecord, definition: SagaDefinition | None) -> str:
        """Why this runner cannot drive the saga with the definition it started under, if so."""
        if definition is None:
            have = sorted(v for n, v in self.versions if n == saga.definition)
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

    async def stop_loudly(self, saga: SagaRecord, problem: str) -> None:
        """A saga this runner must not drive: FAILED (an operator's turn), with the reason."""
        saga.status = SagaStatus.FAILED
        saga.finished_at = now()
        saga.error = f"cannot be driven: {problem}"
        await self.transitions.write_transition(
            saga, [], SagaEventType.SAGA_FAILED, message=saga.error
        )
        log.error("[SAGA] FAILED: %s", saga.error)

    # ---- forward ----------------------------------------------------------------------

    async def _forward(
        self, saga: SagaRecord, definition: SagaDefinition, first_started: bool = False
    ) -> None:
        for step in saga.steps:
            if step.state == StepState.SUCCEEDED:
                continue
            if not await self._execute(saga, definition, step, first_started):
                return
            first_started = False
        await self._complete(saga, definition)

    async def _complete(self, saga: SagaRecord, definition: SagaDefinition) -> None:
        saga.status = SagaStatus.COMPLETED
        saga.finished_at = now()
        summary = definition.summarize(saga.results())
        try:
            await self.transitions.write_transition(
                saga, [], SagaEventType.SAGA_COMPLETED, message=kv(summary)
            )
        except CancelRequested as exc:
            # Nothing was written (the outcome held back stays held for the next transition).
            saga.status, saga.finished_at = SagaStatus.RUNNING, None
            saga.event_seq -= 1
            await self._cancel(saga, exc.request)
            return
        log.info("[SAGA] completed: all %d steps succeeded %s", len(saga.steps), kv(summary))

    async def _execute(
        self, saga: SagaRecord, definition: SagaDefinition, step: StepRecord, started: bool
    ) -> bool:
        """Run the step's Do until it succeeds or fails for good; `started`: the first
        attempt's start is logged already (with the saga's creation)."""
        spec = definition.spec(step.name)
        assert spec is not None, "checked by mismatch before driving"
        outcome = await self.attempts.run(saga, spec, step, forward=True, started=started)
        if outcome.verdict == Verdict.CANCELLED:
            assert saga.cancel is not None, "set by the cancel that stopped the attempts"
            await self._cancel(saga, saga.cancel)
            return False
        if not outcome.ok:
            # Unknown unless the participant said no and never might have said yes: an attempt
            # that got no definitive answer (even one cut off by a crash, logged as started
            # only) may have committed, so the step is compensated too.
            unknown = outcome.verdict != Verdict.REFUSED and step.attempts > 0
            saga.failed_step, saga.error_reason = step.name, outcome.reason
            await self._fail_step(saga, step, outcome.error, unknown=unknown)
            return False
        step.state = StepState.SUCCEEDED
        step.result = outcome.result
        step.error = ""
        step.finished_at = now()
        self.transitions.hold_outcome(
            saga, [step], SagaEventType.STEP_SUCCEEDED, step, kv(outcome.result, 4)
        )
        log.info("[SAGA STEP] %s: succeeded (attempt %d)", step.name, step.attempts)
        return True

    async def _fail_step(
        self, saga: SagaRecord, step: StepRecord, error: str, unknown: bool
    ) -> None:
        step.state = StepState.UNKNOWN_OUTCOME if unknown else StepState.STEP_FAILED
        step.error = error
        step.finished_at = now()
        saga.error = f"{step.name} failed: {error}"
        await self._turn_back(saga, [step], SagaEventType.STEP_FAILED_EVENT, step, error)
        log.warning("[SAGA STEP] %s: failed: %s", step.name, error)
        log_stack(saga)

    async def _cancel(self, saga: SagaRecord, request: CancelRequest) -> None:
        """An operator's cancel: no further step; one in flight may have run (compensated)."""
        saga.cancel = request
        saga.error = request.describe()
        in_flight = [s for s in saga.steps if s.state == StepState.EXECUTING]
        for s in in_flight:
            s.state = StepState.UNKNOWN_OUTCOME
            s.uncertain = True
            s.error = "in flight when the saga was cancelled: may have run"
            s.finished_at = now()
        await self._turn_back(saga, in_flight, SagaEventType.SAGA_CANCELLED, None, saga.error)
        log.warning("[SAGA] %s; compensating what ran", saga.error)
        log_stack(saga)

    async def _turn_back(
        self,
        saga: SagaRecord,
        changed: list[StepRecord],
        type_: SagaEventType,
        step: StepRecord | None,
        message: str,
    ) -> None:
        """The forward path ends: the steps not started are skipped, the saga compensates."""
        skipped = [s for s in saga.steps if s.state == StepState.PENDING]
        for s in skipped:
            s.state = StepState.SKIPPED
        saga.status = SagaStatus.COMPENSATING
        await self.transitions.write_transition(saga, [*changed, *skipped], type_, step, message)

    # ---- compensation -----------------------------------------------------------------

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
                await self.transitions.write_transition(
                    saga, [step], SagaEventType.SAGA_FAILED, step, saga.error
                )
                log.error("[SAGA] FAILED: %s", saga.error)
                return
        saga.status = SagaStatus.COMPENSATED
        saga.finished_at = now()
        order = ", ".join(saga.compensation_order) or "nothing to compensate"
        await self.transitions.write_transition(
            saga, [], SagaEventType.SAGA_COMPENSATED, message=f"compensated: {order}"
        )
        log.info("[SAGA] compensated (%s): %s", order, saga.error)

    async def _compensate(
        self, saga: SagaRecord, definition: SagaDefinition, step: StepRecord
    ) -> bool:
        spec = definition.spec(step.name)
        assert spec is not None, "checked by mismatch before driving"
        outcome = await self.attempts.run(saga, spec, step, forward=False)
        if not outcome.ok:
            step.state = StepState.COMPENSATION_FAILED
            step.compensation_error = outcome.error
            saga.failed_step, saga.error_reason = step.name, outcome.reason
            return False
        step.state = StepState.COMPENSATED_STEP
        step.compensation_result = outcome.result
        step.compensation_error = ""
        step.compensated_at = now()
        saga.compensation_order.append(step.name)
        self.transitions.hold_outcome(
            saga, [step], SagaEventType.COMPENSATION_SUCCEEDED, step, kv(outcome.result, 4)
        )
        log.info("[COMPENSATION] %s: compensated", step.name)
        return True


def log_stack(saga: SagaRecord) -> None:
    stack = [s.name for s in reversed(saga.steps) if needs_compensation(s)]
    log.info("[QUEUE] compensation stack (LIFO): %s", ", ".join(stack) or "empty")


def kv(values: dict[str, object] | None, limit: int = 8) -> str:
    if not values:
        return ""
    items = list(values.items())[:limit]
    return " ".join(f"{k}={v}" for k, v in items if not isinstance(v, dict | list))
