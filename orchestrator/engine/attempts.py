"""The one retry loop, for a step's Do and for its Compensate.

Each attempt's start is logged before the call. Failures are retried with capped exponential
backoff: while the participant cannot be reached, until the policy's time budget is spent (for
a Do, never past the saga deadline); after answers that failed without saying what happened,
up to its attempt count. A Do the participant refuses ends at once; a refused Compensate counts
as a failed attempt. An operator's cancel ends a Do's loop (even mid-call: cancels.py), never a
Compensate's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any, TypeVar

from orchestrator.engine.cancels import CancelTable
from orchestrator.engine.definition import RetryPolicy, StepCall, StepSpec
from orchestrator.engine.errors import (
    BeyondHorizon,
    CancelRequested,
    StepFailed,
    StepRefused,
    StepUnreachable,
)
from orchestrator.engine.horizon import CallHorizon
from orchestrator.engine.leases import LeaseTable
from orchestrator.engine.model import SagaEventType, SagaRecord, StepRecord, StepState, now
from orchestrator.engine.observer import Attempt, SagaObserver
from orchestrator.engine.transitions import Transitions

log = logging.getLogger("orchestrator.saga")
T = TypeVar("T")


class Verdict(Enum):
    """What a failed call says about the participant's side."""

    REFUSED = "refused"  # a definitive business answer: nothing was done
    UNREACHABLE = "unreachable"  # no answer: it may have run; retry while the budget lasts
    ERRORED = "errored"  # an answer that failed without saying what happened: may have run
    CANCELLED = "cancelled"  # an operator's cancel stopped the Do's loop (error: who and why)


def verdict_of(exc: BaseException) -> Verdict:
    if isinstance(exc, StepRefused):
        return Verdict.REFUSED
    if isinstance(exc, StepUnreachable | TimeoutError):
        return Verdict.UNREACHABLE
    # Anything else (a bug in step code, a reply that would not parse) happened somewhere
    # around the call: the participant may have acted, so it is never "did not run".
    return Verdict.ERRORED


def describe(exc: BaseException) -> str:
    if isinstance(exc, StepFailed):
        return str(exc)
    if isinstance(exc, TimeoutError):
        return "DEADLINE_EXCEEDED: no answer within the step deadline"
    return f"{type(exc).__name__}: {exc}"


def reason_of(exc: BaseException) -> str:
    """The failure's stable reason (SagaRecord.error_reason)."""
    if isinstance(exc, StepFailed) and exc.reason:
        return exc.reason
    if isinstance(exc, TimeoutError):
        return "DEADLINE_EXCEEDED"
    # A step function's own failure with no reason, or a bug in step code.
    return "STEP_FAILED" if isinstance(exc, StepFailed) else "ERRORED"


def at(timestamp: str | None) -> datetime:
    return datetime.fromisoformat(timestamp) if timestamp else datetime.now(UTC)


def expired(saga: SagaRecord) -> bool:
    return bool(saga.deadline_at) and datetime.now(UTC) >= at(saga.deadline_at)


def begin_attempt(step: StepRecord) -> None:
    step.attempts += 1
    step.state = StepState.EXECUTING
    step.started_at = step.started_at or now()


def begin_compensation(step: StepRecord) -> None:
    step.compensation_attempts += 1
    step.state = StepState.COMPENSATING_STEP
    step.compensation_started_at = step.compensation_started_at or now()


@dataclass
class Outcome:
    """The outcome of one retry loop (Do or Compensate) over a step."""

    ok: bool
    result: dict[str, Any] | None = None
    error: str = ""
    verdict: Verdict | None = None
    reason: str = ""


@dataclass
class _Retry:
    """A failed attempt to try again after `delay` seconds."""

    error: str
    delay: float


@dataclass
class _Loop:
    """One retry loop's budgets and counts."""

    forward: bool
    policy: RetryPolicy
    began: datetime
    until: datetime  # the end of the time budget for unreachable participants
    tries: int = 0
    errored: int = 0

    @property
    def what(self) -> str:
        return "Do" if self.forward else "Compensate"

    @property
    def label(self) -> str:
        return "[SAGA STEP]" if self.forward else "[COMPENSATION]"


class RetryLoop:
    def __init__(
        self,
        transitions: Transitions,
        leases: LeaseTable,
        observer: SagaObserver,
        horizon: CallHorizon,
        compensation_retry: RetryPolicy,
        cancels: CancelTable,
    ) -> None:
        self.cancels = cancels
        self.transitions = transitions
        self.leases = leases
        self.observer = observer
        self.horizon = horizon
        self.compensation_retry = compensation_retry

    async def run(
        self,
        saga: SagaRecord,
        spec: StepSpec,
        step: StepRecord,
        forward: bool,
        started: bool = False,
    ) -> Outcome:
        """Attempts until one succeeds or the policy gives up (or, for a Do, a cancel stops
        it); `started`: the first attempt's start is logged already."""
        loop = self._loop(saga, spec, forward)
        try:
            return await self._attempts(saga, spec, step, loop, started)
        except CancelRequested as exc:
            return Outcome(False, error=str(exc), verdict=Verdict.CANCELLED)

    async def _attempts(
        self, saga: SagaRecord, spec: StepSpec, step: StepRecord, loop: _Loop, started: bool
    ) -> Outcome:
        while True:
            if loop.forward and (cancel := self.cancels.pending(saga)) is not None:
                raise CancelRequested(cancel)
            if started:
                started = False
            elif (gave_up := await self._announce(saga, step, loop)) is not None:
                return gave_up
            loop.tries += 1
            attempt = self._attempt_number(step, loop)
            self.leases.check(saga.saga_id)  # another replica may be driving the saga by now
            try:
                result = await self._call(saga, spec, step, loop, attempt)
            except CancelRequested:
                raise
            except Exception as exc:
                judged = self._judge(step, loop, exc)
                if isinstance(judged, Outcome):
                    return judged
                await self._retry_later(saga, step, loop, judged)
                continue
            return Outcome(True, result=result)

    def _loop(self, saga: SagaRecord, spec: StepSpec, forward: bool) -> _Loop:
        policy = spec.retry if forward else self.compensation_retry
        # The time budget counts from this loop's start: after a restart, the time the
        # orchestrator itself was down is not time the participant was unreachable.
        began = datetime.now(UTC)
        until = began + timedelta(seconds=policy.retry_for)
        if forward and saga.deadline_at:
            until = min(until, at(saga.deadline_at))
        return _Loop(forward, policy, began, until)

    async def _announce(self, saga: SagaRecord, step: StepRecord, loop: _Loop) -> Outcome | None:
        """Log the attempt's start before its call; or why there is no attempt."""
        if loop.forward and expired(saga):
            return Outcome(False, error="saga deadline exceeded", reason="SAGA_DEADLINE_EXCEEDED")
        if too_old := self.horizon.too_old(saga):
            raise BeyondHorizon(too_old)
        if loop.forward:
            begin_attempt(step)
            started = SagaEventType.STEP_STARTED
        else:
            begin_compensation(step)
            started = SagaEventType.COMPENSATION_STARTED
        await self.transitions.write_transition(saga, [step], started, step)
        return None

    def _attempt_number(self, step: StepRecord, loop: _Loop) -> int:
        attempt = step.attempts if loop.forward else step.compensation_attempts
        # A first attempt's start is routine (its outcome line follows): DEBUG; retries INFO.
        level = logging.INFO if attempt > 1 else logging.DEBUG
        log.log(level, "%s %s: %s attempt %d", loop.label, step.name, loop.what, attempt)
        return attempt

    async def _call(
        self, saga: SagaRecord, spec: StepSpec, step: StepRecord, loop: _Loop, attempt: int
    ) -> dict[str, Any]:
        fn = spec.action if loop.forward else spec.compensation

        async def timed() -> dict[str, Any]:
            async with asyncio.timeout(spec.timeout + 1.0):
                call = Attempt(saga, step.name, loop.what, attempt)
                result: dict[str, Any] = await self.observer.attempt(
                    call, fn(step_call(saga, spec, attempt))
                )
                return result

        return await self._wait(saga, loop, timed())

    def _judge(self, step: StepRecord, loop: _Loop, exc: Exception) -> Outcome | _Retry:
        """A failed attempt: the loop's outcome if it gives up, else when to try again.
        Called while `exc` is being handled (its traceback is logged for a bug in step code)."""
        error, verdict, reason = describe(exc), verdict_of(exc), reason_of(exc)
        if verdict == Verdict.ERRORED and not isinstance(exc, StepFailed):
            log.exception("%s %s: %s code failed", loop.label, step.name, loop.what)
        if loop.forward:
            step.error = error
            if verdict == Verdict.REFUSED:
                return Outcome(False, error=error, verdict=verdict, reason=reason)
            step.uncertain = True
        else:
            step.compensation_error = error
            step.compensation_round += 1
        left = (loop.until - datetime.now(UTC)).total_seconds()
        if verdict == Verdict.UNREACHABLE:
            if left <= 0:
                why = f"no answer for {(datetime.now(UTC) - loop.began).total_seconds():.1f} s"
                return Outcome(False, error=f"{error} ({why})", verdict=verdict, reason=reason)
        else:
            loop.errored += 1
            if loop.errored >= loop.policy.max_attempts:
                why = f"failed {loop.errored} times"
                return Outcome(False, error=f"{error} ({why})", verdict=verdict, reason=reason)
        # An errored attempt is retried even past the time budget, up to its count.
        delay = loop.policy.backoff(loop.tries)
        if verdict == Verdict.UNREACHABLE:
            delay = min(delay, left)
        return _Retry(error, delay)

    async def _retry_later(
        self, saga: SagaRecord, step: StepRecord, loop: _Loop, retry: _Retry
    ) -> None:
        retrying = (
            SagaEventType.STEP_RETRYING if loop.forward else SagaEventType.COMPENSATION_RETRYING
        )
        message = f"{retry.error}; retry in {retry.delay * 1000:.0f} ms"
        await self.transitions.write_transition(saga, [step], retrying, step, message)
        log.warning(
            "%s %s: %s; retrying in %.0f ms", loop.label, step.name, retry.error, retry.delay * 1000
        )
        await self._wait(saga, loop, asyncio.sleep(retry.delay))

    async def _wait(self, saga: SagaRecord, loop: _Loop, wait: Coroutine[Any, Any, T]) -> T:
        """A Do's waits are cut short by a cancel; a Compensate's are not."""
        if loop.forward:
            return await self.cancels.interruptible(saga, wait)
        return await wait


def step_call(saga: SagaRecord, spec: StepSpec, attempt: int) -> StepCall:
    return StepCall(
        saga_id=saga.saga_id,
        payload=saga.payload,
        results=saga.results(),
        timeout=spec.timeout,
        correlation_id=saga.correlation_id,
        # Read at each attempt: a resume that clears them applies from the next one.
        options=saga.options,
        attempt=attempt,
    )
