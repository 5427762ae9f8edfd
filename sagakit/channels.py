"""Client channels to peers: one long-lived channel each, tuned to find a restarted peer fast.

gRPC's default reconnect backoff grows to two minutes; capped at one second, a peer that comes
back is reached within about a second, at the cost of one connection attempt a second while it
is down. A peer may run as several replicas behind one name (`dns:///seat:50051`):
`round_robin` spreads calls over every address and skips a dead one, where gRPC's default
(`pick_first`) would pin every call to the first.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import grpc

from sagakit.config import TlsConfig
from sagakit.tls import channel_credentials

TOKEN_VAR = "FLIGHTSAGA_TOKEN"

ChannelOptions = Sequence[tuple[str, int | str]]

RECONNECT_OPTIONS: ChannelOptions = (
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.lb_policy_name", "round_robin"),
)


class _Bearer:
    """`authorization: Bearer <token>` on every call. Metadata rather than call credentials:
    grpc sends call credentials on TLS channels only, and `make up` is plaintext on loopback."""

    def __init__(self, token: str) -> None:
        self._header = ("authorization", f"Bearer {token}")

    def _with_token(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        metadata = [*(details.metadata or ()), self._header]
        return grpc.aio.ClientCallDetails(
            details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
        )


# grpc.aio files an interceptor under the first kind it matches: one class per kind.
class _UnaryBearer(_Bearer, grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    async def intercept_unary_unary(
        self, continuation: Callable[..., Any], details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await continuation(self._with_token(details), request)


class _StreamBearer(_Bearer, grpc.aio.UnaryStreamClientInterceptor):  # type: ignore[misc]
    async def intercept_unary_stream(
        self, continuation: Callable[..., Any], details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await continuation(self._with_token(details), request)


def env_token() -> str:
    """FLIGHTSAGA_TOKEN, or '' (no authorization header)."""
    return os.environ.get(TOKEN_VAR, "").strip()


def open_channel(
    target: str,
    tls: TlsConfig | None = None,
    token: str | None = None,
    options: ChannelOptions = RECONNECT_OPTIONS,
) -> grpc.aio.Channel:
    """A channel to `target` (any gRPC target string) with the policies above (or `options`).

    `tls` None reads TLS_CERT_FILE / TLS_KEY_FILE / TLS_CA_FILE from the environment: TLS when
    a CA or a certificate is set (mTLS with a certificate), plaintext otherwise. `token` (None:
    FLIGHTSAGA_TOKEN) is sent as a bearer token on every call; '' sends none.
    """
    tls = TlsConfig.from_env() if tls is None else tls
    token = env_token() if token is None else token
    interceptors = [_UnaryBearer(token), _StreamBearer(token)] if token else None
    if tls.client_tls:
        return grpc.aio.secure_channel(
            target, channel_credentials(tls), options=options, interceptors=interceptors
        )
    return grpc.aio.insecure_channel(target, options=options, interceptors=interceptors)
