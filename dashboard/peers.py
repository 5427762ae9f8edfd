"""The dashboard's gRPC peers: one long-lived channel and stub per service, and error mapping.

Channels are opened in the app's lifespan (on the server's event loop) and closed at shutdown.
Every call goes through `Peers.call`, which adds the deadline and the correlation id and turns
a gRPC error into an ApiError with the HTTP status the API answers with.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from dashboard.config import DashboardConfig, Peer
from dashboard.security import user_token
from flightsaga.v1 import logs_pb2_grpc
from sagakit import context
from sagakit.errors import details_of, retry_later
from sagas.peers import Peers as KitPeers

log = logging.getLogger("dashboard.peers")

T = TypeVar("T")

# grpc status -> HTTP status for the API.
HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}


class ApiError(Exception):
    """An error the API answers with: HTTP status, message, and the field or gRPC code."""

    def __init__(
        self, status: int, message: str, field: str | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.code = code
        self.reason: str | None = None  # the ErrorInfo reason, e.g. SOLD_OUT
        self.violations: list[tuple[str, str]] = []  # BadRequest (field, problem)
        self.retry_after: float | None = None  # seconds (RetryInfo): sent as Retry-After

    def headers(self) -> dict[str, str] | None:
        """Retry-After (whole seconds) on a refusal that says when to try again."""
        if self.retry_after is None:
            return None
        return {"Retry-After": str(max(1, math.ceil(self.retry_after)))}

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.message}
        if self.field is not None:
            out["field"] = self.field
        if self.code is not None:
            out["code"] = self.code
        if self.reason is not None:
            out["reason"] = self.reason
        if len(self.violations) > 1:
            out["errors"] = [{"field": f, "message": m} for f, m in self.violations]
        return out


def map_rpc_error(peer: Peer, exc: grpc.aio.AioRpcError) -> ApiError:
    code = exc.code()
    details = exc.details() or code.name
    if code == grpc.StatusCode.UNAVAILABLE:
        # The peer may also answer UNAVAILABLE itself (e.g. shutting down); say both.
        message = peer.unreachable()
        if details and "connect" not in details.lower() and "unreachable" not in details.lower():
            message += f": {details}"
        return ApiError(503, message, code=code.name)
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return ApiError(504, f"{peer.name} at {peer.addr} did not answer in time", code=code.name)
    status = HTTP_STATUS.get(code, 502)
    # The field and the reason come from the status details (BadRequest, ErrorInfo).
    typed = details_of(exc)
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        details = retry_later(typed.retry_after)
    err = ApiError(status, details, field=typed.field, code=code.name)
    err.retry_after = typed.retry_after
    err.reason = typed.reason or None
    err.violations = list(typed.violations)
    return err


class Peers(KitPeers):
    """The dashboard's peers: the kit's channels and stubs, plus deadlines, metadata and the
    API's error mapping for each call."""

    def __init__(self, config: DashboardConfig) -> None:
        # No token on the channel: each call carries its user's (metadata(), below). TLS_* of
        # the environment.
        peers = config.channels
        super().__init__({name: peer.addr for name, peer in peers.items()}, token="")
        self.config = config
        self._service_of = {peer.env_var: name for name, peer in peers.items()}

    @classmethod
    def open(cls, config: DashboardConfig) -> Peers:
        return cls(config)

    def _channel(self, peer: Peer) -> grpc.aio.Channel:
        return self.channel(self._service_of[peer.env_var])

    def logs(self, peer: Peer) -> logs_pb2_grpc.LogsStub:
        """Any service's Logs (its recent lines of a saga)."""
        return logs_pb2_grpc.LogsStub(self._channel(peer))

    def metadata(self, extra: tuple[tuple[str, str], ...] = ()) -> tuple[tuple[str, str], ...]:
        """The correlation id (unless `extra` has one) and the bearer token: the signed-in
        user's, else the dashboard's own FLIGHTSAGA_TOKEN, else none."""
        keys = {k for k, _ in extra}
        token = user_token.get() or self.config.token
        auth = (("authorization", f"Bearer {token}"),) if token else ()
        if context.CORRELATION_HEADER in keys:
            return (*extra, *auth)
        return ((context.CORRELATION_HEADER, context.correlation_id.get()), *extra, *auth)

    async def call(
        self,
        peer: Peer,
        method: Callable[..., Awaitable[T]],
        request: Any,
        timeout: float | None = None,
        metadata: tuple[tuple[str, str], ...] = (),
    ) -> T:
        """One unary call with a deadline and the correlation id; errors become ApiError."""
        try:
            return await method(
                request,
                timeout=timeout or self.config.rpc_timeout,
                metadata=self.metadata(metadata),
            )
        except grpc.aio.AioRpcError as exc:
            err = map_rpc_error(peer, exc)
            log.log(
                logging.WARNING if err.status >= 500 else logging.INFO,
                "%s call failed: %s %s",
                peer.name,
                exc.code().name,
                exc.details(),
            )
            raise err from None

    async def health(self, peer: Peer, deadline: float = 1.0) -> str:
        """The peer's grpc.health.v1 status ("SERVING", ...) or "UNREACHABLE"."""
        stub = health_pb2_grpc.HealthStub(self._channel(peer))
        try:
            reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=deadline)
        except grpc.aio.AioRpcError as exc:
            return "UNREACHABLE" if exc.code() == grpc.StatusCode.UNAVAILABLE else exc.code().name
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))
