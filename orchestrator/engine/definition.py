"""How a saga is described to the engine: ordered steps, each with its calls and policies.

The engine knows nothing of what a step calls or how: a step function gets a StepCall and
returns the participant's reply as a JSON-able dict, or raises one of the StepFailed kinds
below to say what its failure means for the saga. Any other exception counts as StepErrored.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.engine.errors import StepErrored, StepFailed, StepRefused, StepUnreachable

__all__ = ["StepErrored", "StepFailed", "StepRefused", "StepUnreachable"]


@dataclass(frozen=True)
class RetryPolicy:
    """When to try a call again, and when to stop.

    Two budgets, because two kinds of trouble need different patience:
    - `retry_for` seconds while the participant cannot be reached (no answer: it is down,
      restarting, paused or overloaded). Outages end by themselves; a handful of quick attempts
      would give up on a service that is back a second later.
    - `max_attempts` answers that say the call failed without saying what happened (an error
      inside the participant). Those rarely fix themselves: a few attempts, then stop.
    Delays grow exponentially from `base_delay` up to `max_delay`, with equal jitter (a delay
    is uniform in [d/2, d]) so that sagas failing together do not retry together.
    """

    max_attempts: int = 3
    base_delay: float = 0.05
    max_delay: float = 2.0
    retry_for: float = 15.0

    def __post_init__(self) -> None:
        # A policy of no attempts cannot be honoured (a step is tried at least once): refused.
        if self.max_attempts < 1:
            raise ValueError(
                f"RetryPolicy.max_attempts must be at least 1, got {self.max_attempts}"
            )
        if self.base_delay < 0 or self.max_delay < self.base_delay or self.retry_for < 0:
            raise ValueError(f"RetryPolicy delays must be 0 <= base <= max, got {self}")

    def backoff(self, attempt: int) -> float:
        """Delay before the attempt after `attempt` (1-based)."""
        cap = min(self.max_delay, self.base_delay * (2 ** min(attempt - 1, 30)))
        return random.uniform(cap / 2, cap)


@dataclass(frozen=True)
class StepCall:
    """What a step's action or compensation gets: the saga input, earlier steps' results, and
    what the definition needs to address the call (the saga's correlation id, its options as
    the definition stored them at the start, e.g. a fault plan, and the attempt number)."""

    saga_id: str
    payload: bytes
    results: Mapping[str, Mapping[str, Any]]
    timeout: float
    correlation_id: str = ""
    options: str = ""
    attempt: int = 1


# An action/compensation returns the participant's reply as a JSON-able dict.
StepFn = Callable[[StepCall], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class StepSpec:
    name: str
    action: StepFn
    compensation: StepFn
    timeout: float = 2.0
    retry: RetryPolicy = RetryPolicy()


@dataclass(frozen=True)
class SagaDefinition:
    name: str
    steps: tuple[StepSpec, ...]
    # Builds the saga's summary (e.g. booking reference) from the step results once completed.
    summarize: Callable[[Mapping[str, Mapping[str, Any]]], dict[str, Any]] = lambda _: {}
    # Stored with every saga started under it. A change that renames, removes or reorders
    # steps, or changes what a step's results mean, is a new version; keep the old one
    # registered until its sagas are finished (the runner drives each saga with the version
    # it started under, and stops one whose version it does not have: FAILED, with why).
    version: int = 1

    @property
    def step_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.steps)

    def spec(self, name: str) -> StepSpec | None:
        return next((s for s in self.steps if s.name == name), None)
