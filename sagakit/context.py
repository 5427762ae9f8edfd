"""Per-request context: the correlation id and saga id every log line carries."""

from __future__ import annotations

import uuid
from contextvars import ContextVar

correlation_id: ContextVar[str] = ContextVar("correlation_id", default="-")
saga_id: ContextVar[str] = ContextVar("saga_id", default="-")

CORRELATION_HEADER = "x-correlation-id"


def new_correlation_id() -> str:
    return uuid.uuid4().hex[:16]
