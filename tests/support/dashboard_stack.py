"""The dashboard over a real in-process stack: for the dashboard's integration and browser tests.

- `dashboard_config(stack)`: a DashboardConfig pointing at the stack's gRPC servers (the
  participants of every saga it serves).
- `running_dashboard(config)`: real uvicorn on 127.0.0.1:0; yields the base URL.
- `StackThread`: the whole stack (participants, orchestrator, dashboard) on an event loop of its
  own thread, for synchronous callers such as Playwright's sync API.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import tempfile
import threading
from collections.abc import AsyncIterator, Coroutine
from concurrent.futures import Future
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import uvicorn

from dashboard.app import create_app
from dashboard.config import DashboardConfig
from tests.support.stack import Stack, running_stack

T = TypeVar("T")


def dashboard_config(stack: Stack) -> DashboardConfig:
    """The stack's orchestrator and every participant it runs (those of the sagas it serves,
    sagas.registry), by service name."""
    return DashboardConfig.local(
        stack.sagas,
        orchestrator=stack.orchestrator_addr,
        **{p.name: stack.addrs[p.package] for p in stack.served},
    )


@asynccontextmanager
async def running_dashboard(config: DashboardConfig) -> AsyncIterator[str]:
    """Serve the dashboard with uvicorn on 127.0.0.1:<free port>; yields `http://127.0.0.1:<port>`."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config),
            log_config=None,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=1,
        )
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("the dashboard stopped during start-up")
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


class StackThread:
    """Participants, orchestrator and dashboard on a background event loop.

    `start()` returns once everything listens; `run(coro)` runs a coroutine on that loop (for
    gRPC checks through `stack`); `stop()` shuts it all down.
    """

    def __init__(self, data_dir: Path | None = None, **orchestrator_env: str) -> None:
        self._tmp = None if data_dir else tempfile.TemporaryDirectory(prefix="flightsaga-ui-")
        self.data_dir = data_dir or Path(self._tmp.name)  # type: ignore[union-attr]
        self.env = orchestrator_env
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="stack", daemon=True)
        self.base_url = ""
        self.stack: Stack | None = None
        self._stop: asyncio.Event | None = None
        self._main: Future[None] | None = None
        self._extra = AsyncExitStack()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _serve(self, ready: Future[None]) -> None:
        self._stop = asyncio.Event()
        try:
            async with running_stack(self.data_dir, True, None, **self.env) as stack:
                async with running_dashboard(dashboard_config(stack)) as url:
                    self.stack, self.base_url = stack, url
                    ready.set_result(None)
                    await self._stop.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            raise

    def start(self, timeout: float = 60.0) -> StackThread:
        # The services log at INFO, their default LOG_LEVEL: their lines of each saga are what
        # the dashboard's saga log shows (Logs RPC).
        logging.getLogger().setLevel(logging.INFO)
        self.thread.start()
        ready: Future[None] = Future()
        self._main = asyncio.run_coroutine_threadsafe(self._serve(ready), self.loop)
        ready.result(timeout)
        return self

    def extra_dashboard(self, config: DashboardConfig) -> str:
        """Another dashboard on this loop (e.g. pointing at a dead orchestrator); stopped with
        the stack. Returns its base URL."""
        return self.run(self._extra.enter_async_context(running_dashboard(config)))

    def stop(self, timeout: float = 30.0) -> None:
        self.run(self._extra.aclose(), timeout)
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        if self._main is not None:
            try:
                self._main.result(timeout)
            finally:
                self._main = None
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout)
        self.loop.close()
        if self._tmp is not None:
            self._tmp.cleanup()
