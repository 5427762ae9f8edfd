"""Domain errors and the one place they become gRPC status codes."""

from __future__ import annotations

import grpc


class DomainError(Exception):
    """A failure the caller should see as a gRPC status, with a readable message."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(DomainError):
    """Bad input; the message names the field."""

    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


class NotFound(DomainError):
    code = grpc.StatusCode.NOT_FOUND


class Rejected(DomainError):
    """A business rule said no (sold out, balance short, card declined)."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class Aborted(DomainError):
    """Refused by the idempotency barrier (a late Do after Compensate), or an injected failure."""

    code = grpc.StatusCode.ABORTED


class AlreadyExists(DomainError):
    """An idempotency key already used for a different request."""

    code = grpc.StatusCode.ALREADY_EXISTS


class Unavailable(DomainError):
    code = grpc.StatusCode.UNAVAILABLE


# Participant answers the orchestrator treats as definitive business failures (compensate now).
BUSINESS_FAILURE_CODES = frozenset(
    {
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.PERMISSION_DENIED,
    }
)

# Answers that mean the participant was not reached (down, restarting, paused, overloaded, or
# the call was cut off): retried for as long as the time budget allows, since outages end.
UNREACHABLE_CODES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.CANCELLED,
    }
)
