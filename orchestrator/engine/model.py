"""The saga's durable state: what the saga log stores and the runner caches."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

# The current second as isoformat writes it (a saga takes about thirty timestamps; formatting
# the whole datetime each time was a measurable share of the engine's CPU).
_second: list[Any] = [None, ""]


def now() -> str:
    """datetime.now(UTC).isoformat(timespec="microseconds"), the date part formatted once a
    second."""
    seconds, micros = divmod(time.time_ns() // 1000, 1_000_000)
    if seconds != _second[0]:
        text = datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")
        _second[0], _second[1] = seconds, text.removesuffix("+00:00")
    return f"{_second[1]}.{micros:06d}+00:00"


class SagaStatus(StrEnum):
    RUNNING = "RUNNING"
    COMPENSATING = "COMPENSATING"
    COMPLETED = "COMPLETED"
    COMPENSATED = "COMPENSATED"
    FAILED = "FAILED"


TERMINAL = frozenset({SagaStatus.COMPLETED, SagaStatus.COMPENSATED, SagaStatus.FAILED})
# Ended for good: FAILED is terminal for the driver but an operator may resume it, so only
# these reach the runner's sink (one bookings-log line per saga).
FINISHED = frozenset({SagaStatus.COMPLETED, SagaStatus.COMPENSATED})
LIVE = (SagaStatus.RUNNING, SagaStatus.COMPENSATING)


class StepState(StrEnum):
    PENDING = "PENDING"
    EXECUTING = "EXECUTING"
    SUCCEEDED = "SUCCEEDED"
    STEP_FAILED = "STEP_FAILED"
    UNKNOWN_OUTCOME = "UNKNOWN_OUTCOME"
    COMPENSATING_STEP = "COMPENSATING_STEP"
    COMPENSATED_STEP = "COMPENSATED_STEP"
    COMPENSATION_FAILED = "COMPENSATION_FAILED"
    SKIPPED = "SKIPPED"


# Steps whose Do did (or may have) run, and whose compensation has not finished yet.
NEEDS_COMPENSATION = frozenset(
    {
        StepState.SUCCEEDED,
        StepState.UNKNOWN_OUTCOME,
        StepState.COMPENSATING_STEP,
        StepState.COMPENSATION_FAILED,
    }
)


class SagaEventType(StrEnum):
    """What an event in the saga log says happened. The values are stored in the log and are
    the names of flightsaga.v1.SagaEventType: they never change."""

    SAGA_STARTED = "SAGA_STARTED"
    STEP_STARTED = "STEP_STARTED"
    STEP_SUCCEEDED = "STEP_SUCCEEDED"
    STEP_RETRYING = "STEP_RETRYING"
    STEP_FAILED_EVENT = "STEP_FAILED_EVENT"
    COMPENSATION_STARTED = "COMPENSATION_STARTED"
    COMPENSATION_SUCCEEDED = "COMPENSATION_SUCCEEDED"
    COMPENSATION_RETRYING = "COMPENSATION_RETRYING"
    SAGA_COMPLETED = "SAGA_COMPLETED"
    SAGA_COMPENSATED = "SAGA_COMPENSATED"
    SAGA_FAILED = "SAGA_FAILED"
    SAGA_RESUMED = "SAGA_RESUMED"
    SAGA_CANCELLED = "SAGA_CANCELLED"

    @property
    def of_compensation(self) -> bool:
        """An event of a step's Compensate (its attempt counts compensation attempts)."""
        return self.startswith("COMPENSATION")


# The events that end a saga (for the driver; an operator may resume a FAILED one).
ENDINGS = frozenset(
    {SagaEventType.SAGA_COMPLETED, SagaEventType.SAGA_COMPENSATED, SagaEventType.SAGA_FAILED}
)


@dataclass
class StepRecord:
    name: str
    index: int  # 1-based
    state: StepState = StepState.PENDING
    attempts: int = 0
    compensation_attempts: int = 0
    # Compensation attempts since the last (re)start of compensation: the FAILED threshold.
    compensation_round: int = 0
    # Some Do attempt ended without an answer: it may have run, so compensate even on failure.
    uncertain: bool = False
    started_at: str | None = None
    finished_at: str | None = None
    compensation_started_at: str | None = None
    compensated_at: str | None = None
    result: dict[str, Any] | None = None
    error: str = ""
    compensation_result: dict[str, Any] | None = None
    compensation_error: str = ""


def needs_compensation(step: StepRecord) -> bool:
    return step.state in NEEDS_COMPENSATION or (
        step.state == StepState.STEP_FAILED and step.uncertain
    )


@dataclass(frozen=True)
class SagaSubject:
    """What a saga is about, kept in indexed columns so sagas can be found by it (the
    orchestrator takes it from the saga's input): who started it, for whom, which flights."""

    owner: str | None = None
    customer_id: str | None = None
    flight_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class CancelRequest:
    """An operator's cancel of a running saga: who asked, why, and when it was logged."""

    by: str
    reason: str
    at: str = field(default_factory=now)

    def describe(self) -> str:
        return f"cancelled by {self.by}: {self.reason}"


@dataclass
class SagaRecord:
    saga_id: str
    definition: str
    correlation_id: str
    payload: bytes  # the saga's input, as the definition encodes it
    steps: list[StepRecord]
    status: SagaStatus = SagaStatus.RUNNING
    idempotency_key: str = ""
    # What the definition's steps receive with every call (StepCall.options), opaque to the
    # engine: the orchestrator keeps a saga's injected fault plan there (column fault_plan).
    options: str = ""
    created_at: str = field(default_factory=now)
    updated_at: str = field(default_factory=now)
    finished_at: str | None = None
    deadline_at: str | None = None
    error: str = ""
    compensation_order: list[str] = field(default_factory=list)
    event_seq: int = 0
    # Which claim of the saga its driver holds (store.py: writes are fenced by it).
    lease_epoch: int = 0
    definition_version: int = 1  # the version of `definition` it started under
    subject: SagaSubject = field(default_factory=SagaSubject)
    # The saga's latest failure: the step whose Do failed for good (or, once FAILED, whose
    # compensation could not finish) and its reason (the participant's ErrorInfo reason, else
    # the status code).
    failed_step: str = ""
    error_reason: str = ""
    # An operator's cancel (written by whichever replica received it, never by a transition).
    cancel: CancelRequest | None = None

    def step(self, name: str) -> StepRecord:
        return next(s for s in self.steps if s.name == name)

    def results(self) -> dict[str, dict[str, Any]]:
        return {s.name: s.result for s in self.steps if s.result is not None}

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


@dataclass(frozen=True)
class SagaEvent:
    saga_id: str
    seq: int
    type: SagaEventType
    status: SagaStatus
    step: str = ""
    attempt: int = 0
    message: str = ""
    at: str = field(default_factory=now)
    correlation_id: str = ""
