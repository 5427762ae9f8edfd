"""Prometheus metrics (prometheus_client) served over plain HTTP on METRICS_PORT.

Each service has a registry of its own (tests run several services in one process, and the
library's global registry would mix them). The endpoint is a small asyncio server on the
service's loop rather than prometheus_client's threaded one: it binds port 0 in tests and
stops with the service.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest

log = logging.getLogger("sagakit.metrics")

# Seconds: a unary call on loopback takes a millisecond or two; a saga step with retries up to
# tens of seconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    def __init__(self, service: str = "") -> None:
        self.service = service
        self.registry = CollectorRegistry(auto_describe=True)
        self.rpc_seconds = Histogram(
            "flightsaga_rpc_server_seconds",
            "gRPC calls handled, by service, method and status code: time to the answer",
            ["service", "method", "code"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._server: asyncio.Server | None = None
        self.port = 0

    def observe_rpc(self, method: str, code: str, seconds: float) -> None:
        self.rpc_seconds.labels(self.service, method.rsplit("/", 1)[-1], code).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), 5)
            while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
                pass
            path = request.split(b" ")[1] if request.count(b" ") >= 2 else b""
            if path.split(b"?")[0] == b"/metrics":
                body, status, kind = self.render(), b"200 OK", CONTENT_TYPE_LATEST.encode()
            else:
                body, status, kind = b"try /metrics\n", b"404 Not Found", b"text/plain"
            writer.write(
                b"HTTP/1.1 " + status + b"\r\nContent-Type: " + kind + b"\r\n"
                b"Content-Length: "
                + str(len(body)).encode()
                + b"\r\nConnection: close\r\n\r\n"
                + body
            )
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def serve(self, host: str, port: int) -> int:
        self._server = await asyncio.start_server(self._handle, host, port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("metrics on http://%s:%d/metrics", host, self.port)
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
