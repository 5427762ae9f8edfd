"""How a runner drives its sagas: deadlines, compensation retries, leases, claims."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field

from orchestrator.engine.definition import RetryPolicy


def default_owner() -> str:
    """ORCHESTRATOR_ID's default: unique among processes running at once."""
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass(frozen=True)
class RunnerSettings:
    saga_timeout: float = 60.0
    # A compensation is retried until it succeeds; the saga is flagged FAILED (an operator's
    # turn) once the participant has been unreachable for `retry_for` seconds, or has answered
    # `max_attempts` times that the compensation failed.
    compensation_retry: RetryPolicy = field(
        default_factory=lambda: RetryPolicy(
            max_attempts=5, base_delay=0.1, max_delay=10.0, retry_for=300.0
        )
    )
    # This replica's name in the leases, and how long a lease lasts unless renewed.
    owner: str = field(default_factory=lambda: default_owner())
    lease_ttl: float = 10.0
    lease_renew: float = 0.0  # 0: a third of lease_ttl
    # How often the runner claims live sagas nobody holds (0: only when claim() is called),
    # and how many at a time.
    claim_every: float = 1.0
    claim_batch: int = 100
    # Claims stop while this many sagas are driven here (recovery after a crash with thousands
    # of live sagas, a takeover): the rest keep their expired leases until there is room.
    max_driving: int = 256
    # How often a watcher of a saga driven elsewhere (another replica) reads its new events.
    follow_every: float = 0.05
    # Seconds after its start past which a saga gets no participant call (None: any age): the
    # participants may have deleted its barrier marks by then (BARRIER_RETENTION minus a
    # margin). Such a saga is stopped FAILED with the reason instead.
    call_horizon: float | None = None

    @property
    def renew_every(self) -> float:
        return self.lease_renew or self.lease_ttl / 3
