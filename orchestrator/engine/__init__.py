"""A generic, durable saga engine: definitions, the saga log and the runner that drives them.

It knows nothing about flights; orchestrator/booking_saga.py defines the booking saga with it.
The names below are its public API; the modules behind them are its own business.
"""

from orchestrator.engine.definition import RetryPolicy, SagaDefinition, StepCall, StepFn, StepSpec
from orchestrator.engine.errors import (
    LeaseLost,
    NotResumable,
    SagaError,
    SagaNotFound,
    StepErrored,
    StepFailed,
    StepRefused,
    StepUnreachable,
)
from orchestrator.engine.model import (
    FINISHED,
    LIVE,
    TERMINAL,
    SagaEvent,
    SagaEventType,
    SagaRecord,
    SagaStatus,
    StepRecord,
    StepState,
    needs_compensation,
)
from orchestrator.engine.observer import Attempt, Observers, Resumed, SagaObserver
from orchestrator.engine.runner import SagaRunner
from orchestrator.engine.settings import RunnerSettings, default_owner
from orchestrator.engine.sink import TerminalSink
from orchestrator.engine.store import MIGRATIONS, Page, Pruned, SagaStore

__all__ = [
    "FINISHED",
    "LIVE",
    "MIGRATIONS",
    "TERMINAL",
    "Attempt",
    "LeaseLost",
    "NotResumable",
    "Observers",
    "Page",
    "Pruned",
    "Resumed",
    "RetryPolicy",
    "RunnerSettings",
    "SagaDefinition",
    "SagaError",
    "SagaEvent",
    "SagaEventType",
    "SagaNotFound",
    "SagaObserver",
    "SagaRecord",
    "SagaRunner",
    "SagaStatus",
    "SagaStore",
    "StepCall",
    "StepErrored",
    "StepFailed",
    "StepFn",
    "StepRecord",
    "StepRefused",
    "StepSpec",
    "StepState",
    "StepUnreachable",
    "TerminalSink",
    "default_owner",
    "needs_compensation",
]
