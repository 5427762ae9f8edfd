"""Domain errors and the one place they become gRPC statuses with typed details.

Every error a service answers carries a `google.rpc.Status` in the trailing metadata
(`grpc-status-details-bin`, as grpcio-status writes it): an `ErrorInfo` with a stable `reason`
and the domain `flightsaga` (plus metadata such as the field or the decline reason), and for
bad input a `BadRequest` with its field violations. Clients read those (`details_of`), never
the message text, which is for people.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2

DOMAIN = "flightsaga"
DETAILS_KEY = "grpc-status-details-bin"


class Reason:
    """The stable ErrorInfo reasons (docs/api.md#error-details)."""

    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    NOT_FOUND = "NOT_FOUND"
    # business refusals of a saga step
    FLIGHT_DEPARTED = "FLIGHT_DEPARTED"
    SOLD_OUT = "SOLD_OUT"
    SEAT_TAKEN = "SEAT_TAKEN"
    INSUFFICIENT_POINTS = "INSUFFICIENT_POINTS"
    POINTS_EXCEED_FARE = "POINTS_EXCEED_FARE"
    CARD_DECLINED = "CARD_DECLINED"
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
    LATE_DO_REFUSED = "LATE_DO_REFUSED"
    DO_REQUEST_MISMATCH = "DO_REQUEST_MISMATCH"
    # fault injection
    FAULT_INJECTED = "FAULT_INJECTED"
    FAULT_INJECTION_DISABLED = "FAULT_INJECTION_DISABLED"
    # the orchestrator's API
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    SAGA_NOT_RESUMABLE = "SAGA_NOT_RESUMABLE"
    SAGA_NOT_CANCELLABLE = "SAGA_NOT_CANCELLABLE"
    SAGA_NOT_SERVED = "SAGA_NOT_SERVED"
    OVERLOADED = "OVERLOADED"
    # the orchestrator's API and the services
    REJECTED = "REJECTED"
    ABORTED = "ABORTED"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    UNAVAILABLE = "UNAVAILABLE"
    DATABASE_UNAVAILABLE = "DATABASE_UNAVAILABLE"
    PEER_UNAVAILABLE = "PEER_UNAVAILABLE"
    INTERNAL = "INTERNAL"


class DomainError(Exception):
    """A failure the caller should see as a gRPC status, with a readable message and a stable
    reason (ErrorInfo)."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL
    reason: str = Reason.INTERNAL
    # False for refusals that come in floods (overload): their raiser logs a summary instead.
    logged: bool = True

    def __init__(self, message: str, reason: str = "", **metadata: str) -> None:
        super().__init__(message)
        self.message = message
        if reason:
            self.reason = reason
        self.metadata = metadata
        self.violations: list[tuple[str, str]] = []
        self.retry_after: float | None = None  # seconds, sent as a RetryInfo detail

    @classmethod
    def from_rpc(cls, exc: grpc.aio.AioRpcError) -> DomainError:
        """A peer's error passed on as it came: its code, message, reason and violations."""
        d = details_of(exc)
        err = cls(exc.details() or exc.code().name, d.reason or exc.code().name, **d.metadata)
        err.code = exc.code()
        err.violations = list(d.violations)
        err.retry_after = d.retry_after
        return err

    def status(self) -> status_pb2.Status:
        """This error as a google.rpc.Status with its details."""
        details: list[Message] = []
        info = error_details_pb2.ErrorInfo(reason=self.reason, domain=DOMAIN)
        info.metadata.update(self.metadata)
        details.append(info)
        if self.violations:
            details.append(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(field=f, description=d)
                        for f, d in self.violations
                    ]
                )
            )
        if self.retry_after is not None:
            info_retry = error_details_pb2.RetryInfo()
            info_retry.retry_delay.FromNanoseconds(int(self.retry_after * 1e9))
            details.append(info_retry)
        packed = []
        for d in details:
            a = any_pb2.Any()
            a.Pack(d)
            packed.append(a)
        return status_pb2.Status(code=self.code.value[0], message=self.message, details=packed)


class InvalidArgument(DomainError):
    """Bad input; the message names the field, the BadRequest detail carries it."""

    code = grpc.StatusCode.INVALID_ARGUMENT
    reason = Reason.INVALID_ARGUMENT

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}", field=field)
        self.field = field
        self.problem = problem
        self.violations = [(field, problem)]


class NotFound(DomainError):
    code = grpc.StatusCode.NOT_FOUND
    reason = Reason.NOT_FOUND


class Rejected(DomainError):
    """A business rule said no (sold out, balance short, card declined)."""

    code = grpc.StatusCode.FAILED_PRECONDITION
    reason = Reason.REJECTED


class Aborted(DomainError):
    """Refused by the idempotency barrier (a late Do after Compensate), or an injected failure."""

    code = grpc.StatusCode.ABORTED
    reason = Reason.ABORTED


class AlreadyExists(DomainError):
    """An idempotency key already used for a different request."""

    code = grpc.StatusCode.ALREADY_EXISTS
    reason = Reason.ALREADY_EXISTS


class Unavailable(DomainError):
    code = grpc.StatusCode.UNAVAILABLE
    reason = Reason.UNAVAILABLE


class Overloaded(DomainError):
    """Work refused at once because the service is at its limit: retry after `retry_after`."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    reason = Reason.OVERLOADED
    logged = False

    def __init__(self, message: str, retry_after: float, **metadata: str) -> None:
        super().__init__(message, **metadata)
        self.retry_after = retry_after


def retry_later(retry_after: float | None) -> str:
    """What a person is told when a busy orchestrator refused a new saga."""
    if retry_after is None:
        return "The orchestrator is busy: retry later"
    return f"The orchestrator is busy: retry later (in about {max(1, math.ceil(retry_after))} s)"


@dataclass(frozen=True)
class ErrorDetails:
    """What a failed call's google.rpc.Status details say (empty when it carried none)."""

    reason: str = ""
    domain: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    violations: tuple[tuple[str, str], ...] = ()
    retry_after: float | None = None  # seconds (RetryInfo), when the caller may try again

    @property
    def field(self) -> str | None:
        """The (first) field a bad-input error names."""
        return self.violations[0][0] if self.violations else self.metadata.get("field")


def details_of(exc: Any) -> ErrorDetails:
    """The typed details of a failed gRPC call (grpc.aio.AioRpcError or a grpc.Call)."""
    try:
        trailing = exc.trailing_metadata() or ()
    except Exception:
        return ErrorDetails()
    raw = next((v for k, v in trailing if k == DETAILS_KEY), None)
    if not isinstance(raw, bytes):
        return ErrorDetails()
    try:
        status = status_pb2.Status.FromString(raw)
    except Exception:
        return ErrorDetails()
    reason = domain = ""
    metadata: dict[str, str] = {}
    violations: list[tuple[str, str]] = []
    retry_after: float | None = None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason, domain, metadata = info.reason, info.domain, dict(info.metadata)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations += [(v.field, v.description) for v in bad.field_violations]
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            retry_after = retry.retry_delay.ToNanoseconds() / 1e9
    return ErrorDetails(reason, domain, metadata, tuple(violations), retry_after)


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
