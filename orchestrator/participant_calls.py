"""Calling a participant for the engine: the call's metadata, and its failure in engine terms.

The engine knows neither gRPC nor fault injection. A step of the flight saga calls its
participant through `call()`, which sends the saga's correlation id and the fault headers its
fault plan gives this attempt, and turns a failed call into the StepFailed kind that says what
it means: refused (a business answer), unreachable (no answer), errored (an answer that does
not say what happened).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import lru_cache
from typing import TypeVar

import grpc
from google.protobuf.message import Message

from orchestrator.engine.definition import StepCall
from orchestrator.engine.errors import StepErrored, StepFailed, StepRefused, StepUnreachable
from orchestrator.faultplan import FaultPlan
from sagakit.context import CORRELATION_HEADER
from sagakit.errors import BUSINESS_FAILURE_CODES, UNREACHABLE_CODES, details_of

R = TypeVar("R", bound=Message)
Metadata = tuple[tuple[str, str], ...]


@lru_cache(maxsize=1024)
def _plan(text: str) -> FaultPlan:
    """A stored fault plan, parsed once (sagas share a few plans; every attempt reads one).
    Every step it names is kept: the plan may be any served saga's, not only the booking's."""
    return FaultPlan.from_normalized(text)


def faults(plan: str, step: str, forward: bool, attempt: int) -> Metadata:
    """The participant-level fault headers a saga's stored plan gives this attempt."""
    if not plan:
        return ()
    parsed = _plan(plan)
    if forward:
        return parsed.do_metadata(step, attempt)
    return parsed.compensate_metadata(step, attempt)


def metadata(call: StepCall, step: str, forward: bool) -> Metadata:
    """Correlation id, and the participant-level fault headers for this attempt."""
    injected = faults(call.options, step, forward, call.attempt)
    return ((CORRELATION_HEADER, call.correlation_id), *injected)


def failure(exc: grpc.aio.AioRpcError) -> StepFailed:
    """A failed participant call, as the engine must treat it."""
    text = f"{exc.code().name}: {exc.details()}"
    reason = details_of(exc).reason or exc.code().name
    if exc.code() in BUSINESS_FAILURE_CODES:
        return StepRefused(text, reason)
    if exc.code() in UNREACHABLE_CODES:
        return StepUnreachable(text, reason)
    return StepErrored(text, reason)


def underlying(exc: BaseException) -> BaseException:
    """The gRPC error behind a StepFailed that call() raised (what metrics and traces label),
    or `exc` itself."""
    cause: BaseException | None = exc.__cause__
    if isinstance(exc, StepFailed) and isinstance(cause, grpc.aio.AioRpcError):
        return exc.__cause__ or exc
    return exc


async def call(
    method: Callable[..., Awaitable[R]],
    request: Message,
    step_call: StepCall,
    step: str,
    forward: bool = True,
) -> R:
    """`method(request)` for the step's Do (`forward`) or Compensate."""
    try:
        return await method(
            request, metadata=metadata(step_call, step, forward), timeout=step_call.timeout
        )
    except grpc.aio.AioRpcError as exc:
        raise failure(exc) from exc
