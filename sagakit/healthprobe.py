"""A tiny health probe for container healthchecks: no downloaded binary, just the kit's Python.

    python -m sagakit.healthprobe 127.0.0.1:50051              # grpc.health.v1 Check == SERVING
    python -m sagakit.healthprobe 127.0.0.1:50050 --service flightsaga.v1.Orchestrator
    python -m sagakit.healthprobe --http http://127.0.0.1:8080/healthz   # HTTP 2xx

Exit status: 0 healthy, 1 not healthy, 2 bad usage; one line on stdout/stderr says why (what
`docker inspect` shows in the container's health log).
"""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import grpc.aio

DEFAULT_TIMEOUT = 3.0

HEALTHY = 0
UNHEALTHY = 1


def check_grpc(target: str, service: str = "", timeout: float = DEFAULT_TIMEOUT) -> tuple[int, str]:
    """grpc.health.v1.Health/Check on `target` (host:port); healthy iff SERVING."""
    # Imported here so the HTTP mode stays cheap (no grpc import at all).
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from sagakit.config import TlsConfig
    from sagakit.tls import channel_credentials

    # The container's own TLS_* settings: its certificate is a valid client one (mTLS).
    tls = TlsConfig.from_env()
    try:
        with (
            grpc.secure_channel(target, channel_credentials(tls))
            if tls.client_tls
            else grpc.insecure_channel(target)
        ) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
    except grpc.RpcError as exc:
        code = exc.code() if isinstance(exc, grpc.Call) else None
        name = code.name if code is not None else "ERROR"
        details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
        return UNHEALTHY, f"{target}: {name}: {details}"
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    if reply.status == health_pb2.HealthCheckResponse.SERVING:
        return HEALTHY, f"{target}: {status}"
    return UNHEALTHY, f"{target}: {status}"


async def is_serving(channel: grpc.aio.Channel, timeout: float) -> bool:
    """One grpc.health.v1 Check of the whole server on `channel`: whether it is SERVING (an
    error, a deadline or another status: not yet). For waits on a service starting."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    try:
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=timeout
        )
    except grpc.aio.AioRpcError:
        return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def check_http(url: str, timeout: float = DEFAULT_TIMEOUT) -> tuple[int, str]:
    """GET `url`; healthy iff the status is 2xx."""
    if not url.startswith(("http://", "https://")):
        return UNHEALTHY, f"{url}: not an http(s) URL"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            status = int(reply.status)
    except urllib.error.HTTPError as exc:
        return UNHEALTHY, f"{url}: HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        return UNHEALTHY, f"{url}: {exc}"
    if 200 <= status < 300:
        return HEALTHY, f"{url}: HTTP {status}"
    return UNHEALTHY, f"{url}: HTTP {status}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sagakit.healthprobe",
        description="Exit 0 iff a gRPC server reports SERVING (or an HTTP URL answers 2xx).",
    )
    parser.add_argument("target", nargs="?", help="gRPC host:port, e.g. 127.0.0.1:50051")
    parser.add_argument("--service", default="", help="health service name ('' = whole server)")
    parser.add_argument("--http", metavar="URL", help="probe an HTTP URL instead of gRPC")
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds (default %(default)s)"
    )
    args = parser.parse_args(argv)
    if (args.target is None) == (args.http is None):
        parser.error("give exactly one of: a gRPC host:port, or --http URL")
    if args.timeout <= 0:
        parser.error("--timeout must be > 0")
    if args.http is not None:
        code, message = check_http(args.http, args.timeout)
    else:
        code, message = check_grpc(args.target, args.service, args.timeout)
    print(message, file=sys.stdout if code == HEALTHY else sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
