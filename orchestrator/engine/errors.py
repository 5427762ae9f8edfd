"""The engine's exceptions, under one root (SagaError): what a step's failure means, what a
caller asked wrongly, and a driver fenced off by another replica."""

from __future__ import annotations

from orchestrator.engine.model import CancelRequest


class SagaError(Exception):
    """The root of every exception the engine raises on purpose."""


class StepFailed(SagaError):
    """A step function's failure, in the engine's terms; the message is shown to users.
    `reason`: a stable word for it (the participant's ErrorInfo reason, or a status code),
    by which sagas are found (SagaFilter.error_reason)."""

    def __init__(self, message: str = "", reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason


class StepRefused(StepFailed):
    """A definitive answer that the step was not done (a business refusal): a Do stops at
    once and the step is not compensated; a refused Compensate counts as a failed attempt."""


class StepUnreachable(StepFailed):
    """No answer (the participant is down, restarting, overloaded, or the call was cut off):
    it may have run; retried while the policy's time budget lasts."""


class StepErrored(StepFailed):
    """An answer that failed without saying what happened: it may have run; retried up to
    the policy's attempt count."""


class SagaNotFound(SagaError):
    """No saga with this id in the log."""

    def __init__(self, saga_id: str) -> None:
        super().__init__(f"no saga {saga_id!r}")
        self.saga_id = saga_id


class NotResumable(SagaError):
    """A resume of a saga that has nothing to resume (it finished)."""


class NotCancellable(SagaError):
    """A cancel of a saga that cannot be cancelled: it finished, or it is FAILED (an
    operator resumes it instead)."""


class CancelRequested(SagaError):
    """An operator's cancel reached the saga's driver: its forward path stops here (a
    participant call cut short, or a completion the saga log refused)."""

    def __init__(self, request: CancelRequest) -> None:
        super().__init__(request.describe())
        self.request = request


class LeaseLost(SagaError):
    """A transition of a saga whose lease another replica has claimed since: nothing of it
    was written."""


class BeyondHorizon(SagaError):
    """The saga is too old for its participants' barriers: no call may be made for it."""
