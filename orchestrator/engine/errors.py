"""The engine's exceptions: what a step's failure means, and what a caller asked wrongly."""

from __future__ import annotations


class StepFailed(Exception):
    """A step function's failure, in the engine's terms; the message is shown to users."""


class StepRefused(StepFailed):
    """A definitive answer that the step was not done (a business refusal): a Do stops at
    once and the step is not compensated; a refused Compensate counts as a failed attempt."""


class StepUnreachable(StepFailed):
    """No answer (the participant is down, restarting, overloaded, or the call was cut off):
    it may have run; retried while the policy's time budget lasts."""


class StepErrored(StepFailed):
    """An answer that failed without saying what happened: it may have run; retried up to
    the policy's attempt count."""


class SagaNotFound(Exception):
    """No saga with this id in the log."""

    def __init__(self, saga_id: str) -> None:
        super().__init__(f"no saga {saga_id!r}")
        self.saga_id = saga_id


class NotResumable(Exception):
    """A resume of a saga that has nothing to resume (it finished)."""
