"""The system under test: a local stack started by the launcher, or a running one (--target)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from bench.workload import Addrs
from orchestrator.launcher import HOST, Launcher, Service, _die_with_parent


def free_base_port(attempts: int = 50) -> int:
    """A port p with p..p+4 all free on 127.0.0.1 (orchestrator and the four participants)."""
    for _ in range(attempts):
        with socket.socket() as s:
            s.bind((HOST, 0))
            base = int(s.getsockname()[1])
        if base + 4 > 65535:
            continue
        try:
            for port in range(base, base + 5):
                with socket.socket() as s:
                    s.bind((HOST, port))
        except OSError:
            continue
        return base
    raise RuntimeError("no run of 5 free ports found on 127.0.0.1")


class QuietLauncher(Launcher):
    """The launcher with each service's output going straight to a file, not through a pipe.

    The stock launcher pumps every log line through its own event loop; in the benchmark
    that loop is the load generator, so it would bill the services' logging to the client.
    """

    def __init__(
        self, data_dir: Path, base_port: int, extra_env: dict[str, str], cwd: Path | None = None
    ) -> None:
        self._sink = open(os.devnull, "w")  # closed in stop()
        self.cwd = cwd
        super().__init__(data_dir, base_port, dashboard=False, out=self._sink, extra_env=extra_env)
        self._logs: list[IO[bytes]] = []

    def log_path(self, svc: Service) -> Path:
        return self.data_dir / f"{svc.name}.log"

    async def _spawn(self, svc: Service) -> None:
        log = self.log_path(svc).open("ab")
        self._logs.append(log)
        svc.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            svc.module,
            env=self.env_for(svc),
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            preexec_fn=_die_with_parent,
            cwd=self.cwd,
        )
        svc.tail.append(f"(output in {self.log_path(svc)})")

    async def stop(self) -> None:
        try:
            await super().stop()
        finally:
            for log in self._logs:
                log.close()
            self._sink.close()


@dataclass
class SystemUnderTest:
    addrs: Addrs
    # service name -> pid, for CPU and memory (empty against a --target stack)
    pids: dict[str, int] = field(default_factory=dict)
    data_dir: Path | None = None


@contextlib.asynccontextmanager
async def local_stack(
    code_dir: Path | None = None,
    extra_env: dict[str, str] | None = None,
    keep_data: Path | None = None,
) -> AsyncIterator[SystemUnderTest]:
    """Start the whole stack on free ports with a fresh data dir; stop it on exit.

    With code_dir, the services import their packages from that source tree: they run in it
    (`python -m` puts the working directory first on sys.path) with it on PYTHONPATH (before
    the editable install). That is how the benchmark runs a baseline revision side by side.
    """
    env = dict(extra_env or {})
    if code_dir is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(code_dir), str(code_dir / "protos")])
        # Check the tree really shadows the installed code (the services import from it).
        if not (code_dir / "orchestrator" / "__main__.py").is_file():
            raise RuntimeError(f"{code_dir} is not a FlightSaga source tree")
    with contextlib.ExitStack() as stack:
        if keep_data is None:
            data = Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix="flightsaga-bench-"))
            )
        else:
            data = keep_data
        launcher = QuietLauncher(data, free_base_port(), env, cwd=code_dir)
        await launcher.start()
        try:
            pids = {s.name: s.proc.pid for s in launcher.services if s.proc is not None}
            if code_dir is not None:  # `python -m` imports from its working directory first
                for name, pid in pids.items():
                    if Path(os.readlink(f"/proc/{pid}/cwd")) != code_dir:
                        raise RuntimeError(f"{name} does not run from {code_dir}")
            addrs = Addrs(launcher.orchestrator.addr, *(s.addr for s in launcher.participants))
            yield SystemUnderTest(addrs, pids, data)
        finally:
            await launcher.stop()


def target_addrs(targets: list[str]) -> Addrs:
    """One address: the orchestrator, participants on the next four ports (the default layout).
    Five: orchestrator, seat, loyalty, payment, booking."""
    if len(targets) == 5:
        return Addrs(*targets)
    if len(targets) == 1:
        host, _, port = targets[0].rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"--target {targets[0]!r}: expected HOST:PORT")
        return Addrs.from_base(host, int(port))
    raise ValueError(
        "--target takes one address (the orchestrator; participants on the next 4 ports) or five "
        "(orchestrator seat loyalty payment booking)"
    )
