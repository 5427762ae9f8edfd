"""Server bootstrap: grpc.aio server with health, reflection, interceptors and graceful stop."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from flightsaga.v1 import logs_pb2_grpc
from sagakit.config import ConfigError, ServiceConfig, TlsConfig
from sagakit.interceptors import CorrelationInterceptor, ErrorInterceptor, MetricsInterceptor
from sagakit.logs import setup_logging
from sagakit.logstore import SERVICE_NAME as LOGS_SERVICE
from sagakit.logstore import LogsServicer, keep_saga_lines
from sagakit.metrics import Metrics
from sagakit.tls import check_listen, server_credentials
from sagakit.tracing import setup_tracing

log = logging.getLogger("sagakit.server")

# Limits set here, not left to grpcio's defaults (docs/api.md#limits-and-input-checks): a
# booking is a few KB, a page of 200 sagas with their timelines well under 1 MiB; metadata
# carries ids and faults.
MAX_MESSAGE_BYTES = 1024 * 1024
MAX_METADATA_BYTES = 16 * 1024
SERVER_OPTIONS = (
    # Tests bind port 0; without this a second server on a taken port would bind silently.
    ("grpc.so_reuseport", 0),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", 4 * MAX_MESSAGE_BYTES),
    ("grpc.max_metadata_size", MAX_METADATA_BYTES),
)


@dataclass
class GrpcApp:
    """A service's gRPC servicers plus what runs before start and after stop."""

    name: str
    # (full service name, function adding the servicer to a server)
    services: Sequence[tuple[str, Callable[[grpc.aio.Server], None]]]
    interceptors: Sequence[grpc.aio.ServerInterceptor] = ()
    on_start: Sequence[Callable[[], Awaitable[None]]] = ()
    on_stop: Sequence[Callable[[], Awaitable[None]]] = ()
    metrics: Metrics = field(default_factory=Metrics)
    metrics_port: int | None = None  # METRICS_PORT; None = no metrics endpoint
    tls: TlsConfig = field(default_factory=TlsConfig)  # plaintext unless configured
    server: grpc.aio.Server | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.metrics.service = self.metrics.service or self.name

    health: health.aio.HealthServicer | None = field(default=None, init=False)
    port: int = field(default=0, init=False)

    async def start(self, host: str, port: int) -> int:
        """Bind, start and report SERVING; returns the bound port (useful with port 0).

        Raises ConfigError (before binding) for plaintext off loopback without ALLOW_PLAINTEXT.
        """
        check_listen(self.name, host, port, self.tls)
        interceptors = [
            MetricsInterceptor(self.metrics),
            CorrelationInterceptor(),
            *self.interceptors,
            ErrorInterceptor(),
        ]
        server = grpc.aio.server(interceptors=interceptors, options=SERVER_OPTIONS)
        for _, add in self.services:
            add(server)
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        # Every service answers Logs: its recent lines of a saga (sagakit/logstore.py).
        logs_pb2_grpc.add_LogsServicer_to_server(LogsServicer(keep_saga_lines(), self.name), server)
        names = [*(full for full, _ in self.services), LOGS_SERVICE]
        reflection.enable_server_reflection(
            [
                *names,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ],
            server,
        )
        try:
            if self.tls.server_tls:
                self.port = server.add_secure_port(f"{host}:{port}", server_credentials(self.tls))
            else:
                self.port = server.add_insecure_port(f"{host}:{port}")
        except RuntimeError as exc:
            raise OSError(f"{self.name}: cannot listen on {host}:{port} ({exc})") from exc
        for hook in self.on_start:
            await hook()
        await server.start()
        self.server = server
        if self.metrics_port is not None:
            await self.metrics.serve(host, self.metrics_port)
        for name in ["", *names]:
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        how = "mTLS" if self.tls.mutual else "TLS" if self.tls.server_tls else "plaintext"
        log.info("%s listening on %s:%d (%s)", self.name, host, self.port, how)
        return self.port

    async def stop(self, grace: float = 5.0) -> None:
        if self.health is not None:
            await self.health.enter_graceful_shutdown()
        if self.server is not None:
            await self.server.stop(grace)
            self.server = None
        await self.metrics.close()
        for hook in self.on_stop:
            await hook()

    async def serve_until_signal(self, host: str, port: int, grace: float = 5.0) -> None:
        await self.start(host, port)
        stop = stop_on_signals()
        await stop.wait()
        log.info("%s stopping (grace %.1fs)", self.name, grace)
        await self.stop(grace)


def stop_on_signals() -> asyncio.Event:
    """An event the running loop sets on SIGTERM or SIGINT: a process's cue to stop cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run a service's main coroutine on uvloop: grpc.aio's completion callbacks, timers and
    task switches are the orchestrator's largest CPU cost after the calls themselves, and
    uvloop's loop does that bookkeeping in C (bench/README.md). The standard loop
    where uvloop is not installed (it is a dependency; a platform without a wheel)."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    uvloop.run(main)


def run_service(service: str, default_port: int, build: Callable[[ServiceConfig], GrpcApp]) -> None:
    """Entry point body for `python -m <service>`: config errors exit 2 naming the variable."""

    async def _main() -> None:
        config = ServiceConfig.from_env(service, default_port)
        setup_logging(service, config.log_format, config.log_level)
        # Before the app: its servers and channels are instrumented as they are made.
        tracing = setup_tracing(service, os.environ)
        app = build(config)
        app.metrics_port = config.metrics_port
        try:
            await app.serve_until_signal(config.host, config.port)
        finally:
            if tracing is not None:
                await asyncio.to_thread(tracing.shutdown)

    try:
        run_loop(_main())
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        sys.exit(2)
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
