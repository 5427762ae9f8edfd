"""Per-request context: the correlation id and saga id every log line carries."""

from __future__ import annotations

import time
import uuid
from contextvars import ContextVar

correlation_id: ContextVar[str] = ContextVar("correlation_id", default="-")
saga_id: ContextVar[str] = ContextVar("saga_id", default="-")

# When the caller stops waiting (time.monotonic()), if it said: work done for it before a saga
# exists (calls, their retries) must end in time to answer it, not run past its deadline.
deadline: ContextVar[float | None] = ContextVar("deadline", default=None)

CORRELATION_HEADER = "x-correlation-id"


def time_left() -> float | None:
    """Seconds until the caller's deadline (negative once past it); None without one."""
    end = deadline.get()
    return None if end is None else end - time.monotonic()


def new_correlation_id() -> str:
    return uuid.uuid4().hex[:16]
