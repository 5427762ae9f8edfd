"""Run a FlightSaga service as a real OS process (for kill -9 / restart tests)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc

from sagakit.healthprobe import is_serving


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServiceProcess:
    """`python -m <module>` with its own env; log to a file; start, wait healthy, kill -9.
    `cwd`: the source tree it runs from (with launcher.supervisor.code_env(cwd) in `env`);
    default: this process's working directory."""

    def __init__(
        self, module: str, port: int, env: dict[str, str], log: Path, cwd: Path | None = None
    ) -> None:
        self.module, self.port, self.env, self.log, self.cwd = module, port, env, log, cwd
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {**os.environ, **self.env, "LISTEN_ADDR": self.addr, "PYTHONUNBUFFERED": "1"}
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.module],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=self.cwd,
        )
        out.close()

    async def wait_healthy(self, timeout: float = 20.0) -> None:
        end = time.monotonic() + timeout
        async with grpc.aio.insecure_channel(self.addr) as channel:
            while time.monotonic() < end:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.module} exited: {self.log.read_text()[-2000:]}")
                if await is_serving(channel, 0.5):
                    return
                await asyncio.sleep(0.1)
        raise TimeoutError(f"{self.module} not healthy after {timeout}s")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
