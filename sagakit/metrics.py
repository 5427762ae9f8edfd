"""Prometheus-style metrics over plain HTTP (METRICS_PORT), with no extra dependency.

Counters are incremented in process; collectors are async callbacks that produce gauge lines
when scraped (e.g. the orchestrator's saga counts by state, FAILED included, for alerting).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable

log = logging.getLogger("sagakit.metrics")

Collector = Callable[[], Awaitable[list[str]]]


def _labels(labels: dict[str, str]) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return "{" + inner + "}" if inner else ""


class Metrics:
    def __init__(self) -> None:
        self._counters: Counter[tuple[str, str]] = Counter()
        self._help: dict[str, str] = {}
        self._collectors: list[Collector] = []
        self._server: asyncio.Server | None = None
        self.port = 0

    def inc(self, name: str, help_text: str, **labels: str) -> None:
        self._help.setdefault(name, help_text)
        self._counters[(name, _labels(labels))] += 1

    def add_collector(self, collector: Collector) -> None:
        self._collectors.append(collector)

    async def render(self) -> str:
        lines: list[str] = []
        for name in sorted(self._help):
            lines += [f"# HELP {name} {self._help[name]}", f"# TYPE {name} counter"]
            lines += [
                f"{n}{lbl} {v}" for (n, lbl), v in sorted(self._counters.items()) if n == name
            ]
        for collect in self._collectors:
            lines += await collect()
        return "\n".join(lines) + "\n"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), 5)
            while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
                pass
            path = request.split(b" ")[1] if request.count(b" ") >= 2 else b""
            if path == b"/metrics":
                body, status = (await self.render()).encode(), b"200 OK"
            else:
                body, status = b"try /metrics\n", b"404 Not Found"
            writer.write(
                b"HTTP/1.1 " + status + b"\r\nContent-Type: text/plain; version=0.0.4\r\n"
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
