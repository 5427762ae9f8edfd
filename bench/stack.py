"""The system under test: a local stack started by the launcher, or a running one (--target)."""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from launcher.ports import free_base_port
from launcher.supervisor import Launcher, code_env
from sagas.peers import Addrs


@dataclass
class SystemUnderTest:
    addrs: Addrs
    # service name -> pid, for CPU and memory (empty against a --target stack)
    pids: dict[str, int] = field(default_factory=dict)
    data_dir: Path | None = None
    # other processes whose CPU is reported (a local PostgreSQL server: name -> postmaster)
    server_pids: dict[str, int] = field(default_factory=dict)
    launcher: Launcher | None = None  # the local stack's (to restart a service)

    @property
    def cpu_pids(self) -> dict[str, int]:
        return {**self.pids, **self.server_pids}


@contextlib.asynccontextmanager
async def local_stack(
    code_dir: Path | None = None,
    extra_env: dict[str, str] | None = None,
    keep_data: Path | None = None,
    databases: dict[str, str] | None = None,
    replicas: int = 1,
) -> AsyncIterator[SystemUnderTest]:
    """Start the whole stack on free ports with a fresh data dir; stop it on exit.

    With code_dir, the services import their packages from that source tree: they run in it
    (`python -m` puts the working directory first on sys.path) with it on PYTHONPATH (before
    the editable install). That is how the benchmark runs a baseline revision side by side.
    `databases`: each service module's DATABASE_URL (default: SQLite files in the data dir).
    `replicas`: orchestrator replicas on the one saga log (PostgreSQL), the load spread over
    them by one round_robin target.
    """
    env = dict(extra_env or {})
    # Throughput is measured with admission out of the way (bench overload sets its own).
    env.setdefault("SAGA_MAX_IN_FLIGHT", "1000000")
    if code_dir is not None:
        env.update(code_env(code_dir))
    with contextlib.ExitStack() as stack:
        if keep_data is None:
            data = Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix="flightsaga-bench-"))
            )
        else:
            data = keep_data
        # Output straight to files: this loop is the load generator, so it must not also
        # carry the services' logging (it would be billed to the client).
        launcher = Launcher(
            data,
            free_base_port(),
            dashboard=False,
            out=io.StringIO(),  # the launcher's few own lines (stop notices) are not wanted
            extra_env=env,
            cwd=code_dir,
            pump_output=False,
            databases=databases,
        )
        await launcher.start()
        try:
            yield await _started(launcher, data, replicas, code_dir)
        finally:
            await launcher.stop()


async def _started(
    launcher: Launcher, data: Path, replicas: int, code_dir: Path | None
) -> SystemUnderTest:
    """The started stack with its extra orchestrator replicas, checked to run from code_dir."""
    for _ in range(replicas - 1):
        await launcher.add_orchestrator()
    pids = {s.name: s.proc.pid for s in launcher.services if s.proc is not None}
    if code_dir is not None:  # `python -m` imports from its working directory first
        for name, pid in pids.items():
            if Path(os.readlink(f"/proc/{pid}/cwd")) != code_dir:
                raise RuntimeError(f"{name} does not run from {code_dir}")
    orchestrators = [s.addr for s in launcher.services if s.module == "orchestrator"]
    addrs = Addrs(
        orchestrators[0] if replicas == 1 else "ipv4:" + ",".join(orchestrators),
        *(s.addr for s in launcher.participants),
    )
    return SystemUnderTest(addrs, pids, data, launcher=launcher)


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
