"""`flightsaga up`: the whole system as local processes, one command.

Starts the four participants, then the orchestrator, then the dashboard, each as its own
process with its SQLite file under one data folder and FAULT_INJECTION=enabled; waits for every
health check; streams their logs with a prefix per service; on Ctrl-C (or SIGTERM) stops them
all gracefully. A service that fails to start or dies is reported with its own output, and the
others are stopped: nothing is left running.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, TextIO

from launcher.datadir import lock_data_dir
from launcher.errors import NotStarted, StartError
from launcher.ports import HOST, free_port, owns_port, port_holder, port_taken
from sagakit.channels import open_channel
from sagakit.config import TlsConfig
from sagakit.healthprobe import check_http, is_serving
from sagakit.server import stop_on_signals
from sagas import registry, services
from sagas.declare import BASE_PORT
from sagas.registry import Registry
from sagas.services import ORCHESTRATOR

START_TIMEOUT = 30.0
STOP_GRACE = 10.0


@dataclass
class Service:
    name: str
    module: str
    port: int
    http: bool = False
    proc: asyncio.subprocess.Process | None = None
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=20))

    @property
    def addr(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def database(self) -> str:
        """Its database's name (and SQLite file stem): the module's last part."""
        return self.module.rsplit(".", 1)[-1]

    @property
    def url(self) -> str:
        return f"http://{self.addr}" if self.http else self.addr


# Every gRPC service's package: the ones with a database (the booking saga's stack).
SERVICE_MODULES = services.PACKAGES


def stack_databases(sagas: Registry) -> tuple[str, ...]:
    """The databases of a stack serving `sagas` (SAGAS): the orchestrator's and each
    participant's, by database name (tooling.pgdatabases creates them)."""
    return (ORCHESTRATOR.database, *(p.database for p in sagas.participants))


def stack_ports(sagas: Registry) -> int:
    """How many consecutive ports from the base port a stack serving `sagas` takes."""
    return 1 + max(p.port_offset for p in sagas.participants)


def code_env(code_dir: Path) -> dict[str, str]:
    """Environment that makes services import their packages from another source tree.

    `python -m` puts the working directory first on sys.path, so the services must also run
    in that tree (Launcher(cwd=code_dir)); PYTHONPATH alone would lose to the editable install
    only for packages the tree lacks, and the generated protos live under protos/.
    """
    if not (code_dir / "orchestrator" / "__main__.py").is_file():
        raise StartError(f"{code_dir} is not a FlightSaga source tree")
    return {"PYTHONPATH": os.pathsep.join([str(code_dir), str(code_dir / "protos")])}


# Linux: a child asks for SIGTERM when the launcher itself dies, so no orphans are left; then
# it becomes `python -m <service>` (same pid). A tiny exec wrapper rather than preexec_fn:
# running Python between fork and exec, in a process whose gRPC threads are busy (chaos and
# bench restart services under load), can crash the child (SIGSEGV) before it starts.
_DIE_WITH_PARENT = """\
import ctypes, os, signal, sys
try:
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
except Exception:
    pass
if os.getppid() != int(sys.argv[2]):
    sys.exit(1)  # the launcher died before prctl: nobody would stop this service
os.execv(sys.executable, [sys.executable, "-m", sys.argv[1]])
"""


def service_argv(module: str) -> list[str]:
    """The command of a service process, dying with this one (`python -m <module>`)."""
    return [sys.executable, "-c", _DIE_WITH_PARENT, module, str(os.getpid())]


class Launcher:
    """The services of one stack, started and stopped together.

    Before spawning anything it takes an flock on `<data folder>/up.lock` (a second `up` on the
    same folder stops at once, naming the holder's pid, and writes nothing there) and checks that
    every port is free (naming the process that holds a taken one). A service counts as up only
    when its health check answers AND the listening socket on its port is its own
    (/proc/<pid>/fd), never another stack's that happens to answer on the same port."""

    def __init__(
        self,
        data_dir: Path,
        base_port: int = BASE_PORT,
        dashboard_port: int = 8080,
        dashboard: bool = True,
        log_dir: Path | None = None,
        out: TextIO = sys.stdout,
        extra_env: dict[str, str] | None = None,
        cwd: Path | None = None,
        pump_output: bool = True,
        databases: dict[str, str] | None = None,
    ) -> None:
        """`pump_output=False` sends each service's output straight to `<log_dir>/<name>.log`
        (the data folder when no log_dir) instead of through this process: a caller whose event
        loop is busy generating load (bench, chaos) must not also carry every log line.
        `cwd` runs the services in another source tree (with `code_env(cwd)` in extra_env).
        `databases`: each service's DATABASE_URL by database name (Service.database; default:
        a SQLite file each in data_dir), e.g. from tooling.pgdatabases.ensure_databases. The
        participants are those of the sagas SAGAS names (sagas.registry; in extra_env or the
        environment), the booking saga's by default."""
        self.databases = databases or {}
        self.data_dir = data_dir.resolve()
        self.log_dir = log_dir
        self.out = out
        self.extra_env = extra_env or {}
        self.cwd = cwd
        self.pump_output = pump_output
        self.sagas = registry.from_env({**os.environ, **self.extra_env})
        self.declared = self.sagas.participants
        self.participants = [
            Service(p.name, p.package, base_port + p.port_offset) for p in self.declared
        ]
        self.orchestrator = Service(
            ORCHESTRATOR.name, ORCHESTRATOR.package, base_port + ORCHESTRATOR.port_offset
        )
        self.dashboard = Service("dashboard", "dashboard", dashboard_port, http=True)
        self.services = [*self.participants, self.orchestrator]
        if dashboard:
            self.services.append(self.dashboard)
        self._pumps: list[asyncio.Task[None]] = []

    def env_for(self, svc: Service) -> dict[str, str]:
        return {
            **os.environ,
            "LISTEN_ADDR": svc.addr,
            "DATABASE_URL": self.databases.get(
                svc.database, f"sqlite:///{self.data_dir / (svc.database + '.db')}"
            ),
            "FAULT_INJECTION": "enabled",
            **{
                p.env_var: svc.addr for p, svc in zip(self.declared, self.participants, strict=True)
            },
            ORCHESTRATOR.env_var: self.orchestrator.addr,
            "BOOKINGS_LOG": str(self.data_dir / "bookings.jsonl"),
            # The local stack's orchestrator, by a name that outlives a restart: it takes its
            # sagas back at once on PostgreSQL too (a new name would wait for the leases).
            "ORCHESTRATOR_ID": os.environ.get("ORCHESTRATOR_ID", "local-orchestrator"),
            "PYTHONUNBUFFERED": "1",
            **self.extra_env,
            **self._replica_env(svc),
        }

    def _replica_env(self, svc: Service) -> dict[str, str]:
        """A further orchestrator replica's own name and bookings log (add_orchestrator)."""
        if svc.module != "orchestrator" or svc is self.orchestrator:
            return {}
        return {
            "ORCHESTRATOR_ID": f"local-{svc.name}",
            "BOOKINGS_LOG": str(self.data_dir / f"{svc.name}-bookings.jsonl"),
        }

    async def add_orchestrator(self) -> Service:
        """Start one more orchestrator replica on the stack's saga log (PostgreSQL only: a
        SQLite log is one process's), on a free port; returns it once healthy."""
        taken = [s.port for s in self.services]
        n = sum(1 for s in self.services if s.module == "orchestrator") + 1
        svc = Service(f"orchestrator-{n}", "orchestrator", free_port(avoid=taken))
        self.services.append(svc)
        await self.spawn(svc)
        await self.wait_healthy(svc)
        return svc

    def say(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    async def _pump(self, svc: Service) -> None:
        assert svc.proc is not None and svc.proc.stdout is not None
        log_file = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            log_file = (self.log_dir / f"{svc.name}.log").open("a", encoding="utf-8")
        try:
            async for raw in svc.proc.stdout:
                line = raw.decode(errors="replace").rstrip()
                svc.tail.append(line)
                self.say(f"{svc.name:<12}| {line}")
                if log_file is not None:
                    log_file.write(line + "\n")
                    log_file.flush()
        finally:
            if log_file is not None:
                log_file.close()

    def log_path(self, svc: Service) -> Path:
        return (self.log_dir or self.data_dir) / f"{svc.name}.log"

    async def spawn(self, svc: Service) -> None:
        """Start (or restart, on the same port and database) one service; do not wait for it."""
        log: IO[bytes] | None = None
        if not self.pump_output:
            self.log_path(svc).parent.mkdir(parents=True, exist_ok=True)
            log = self.log_path(svc).open("ab")  # the child keeps its own copy of the descriptor
            svc.tail.clear()
            svc.tail.append(f"(output in {self.log_path(svc)})")
        try:
            svc.proc = await asyncio.create_subprocess_exec(
                *service_argv(svc.module),
                env=self.env_for(svc),
                stdout=asyncio.subprocess.PIPE if log is None else log,
                stderr=asyncio.subprocess.STDOUT,
                cwd=self.cwd,
            )
        finally:
            if log is not None:
                log.close()
        if log is None:
            self._pumps.append(asyncio.create_task(self._pump(svc)))

    async def _healthy(self, svc: Service) -> bool:
        if svc.http:
            code, _ = await asyncio.to_thread(check_http, f"{svc.url}/healthz", 1.0)
            return code == 0
        # The transport the services were given (this environment's TLS_* under extra_env's).
        tls = TlsConfig.from_env({**os.environ, **self.extra_env})
        async with open_channel(svc.addr, tls, token="") as channel:
            return await is_serving(channel, 1.0)

    async def wait_healthy(self, svc: Service) -> None:
        """Until the service answers SERVING; StartError if it exits or takes too long."""
        loop = asyncio.get_running_loop()
        end = loop.time() + START_TIMEOUT
        foreign = False
        while loop.time() < end:
            assert svc.proc is not None
            if svc.proc.returncode is not None:
                await asyncio.sleep(0.2)  # let the pump print the service's last words
                raise StartError(
                    f"{svc.name} failed to start (exit code {svc.proc.returncode}):\n    "
                    + "\n    ".join(svc.tail)
                )
            if await self._healthy(svc):
                # Answering is not enough: the answer may come from another process on the port
                # (another stack) while this service fails to bind. Its own socket, or wait.
                if owns_port(svc.proc.pid, svc.port):
                    return
                foreign = True
            await asyncio.sleep(0.2)
        if foreign:
            raise StartError(
                f"{svc.name}: {svc.addr} answers, but from another process"
                f"{port_holder(svc.port)}, not from the {svc.name} service this launcher started"
            )
        raise StartError(f"{svc.name} did not become healthy within {START_TIMEOUT:.0f}s")

    def check_ports(self) -> None:
        """NotStarted naming every port already taken (and by whom), before anything spawns."""
        taken = [
            f"{s.addr} ({s.name}) is already in use{port_holder(s.port)}"
            for s in self.services
            if port_taken(s.port)
        ]
        if taken:
            raise NotStarted(
                "; ".join(taken) + ". Another FlightSaga stack (`make up`, docker compose)? "
                "Stop it, or run on free ports: `.venv/bin/flightsaga up --free-ports` "
                "(make up UP_ARGS=--free-ports)."
            )

    async def start(self) -> None:
        """Start everything in dependency order; on any failure stop what started and raise."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        waves = [self.participants, [self.orchestrator]]
        if self.dashboard in self.services:
            waves.append([self.dashboard])
        try:
            for wave in waves:
                for svc in wave:
                    await self.spawn(svc)
                await asyncio.gather(*(self.wait_healthy(s) for s in wave))
        except BaseException:
            await self.stop()
            raise

    def _where(self) -> str:
        if not self.databases:
            return f"data in {self.data_dir}"
        from sagakit.postgres_db import masked

        one = masked(next(iter(self.databases.values())))
        return f"databases on PostgreSQL {one.rpartition('/')[0]}/…, files in {self.data_dir}"

    def banner(self) -> str:
        rows = [f"  {s.name:<13}{s.url}" for s in self.services]
        # Tomorrow, computed as the banner prints: a date that has not departed.
        tomorrow = datetime.now(UTC).date() + timedelta(days=1)
        flight = f"--from JFK --to LAX --date {tomorrow.isoformat()}"
        cli = ".venv/bin/flightsaga"
        if self.orchestrator.port != ORCHESTRATOR.default_port:
            seat = self.participants[0]  # the CLI searches flights on the seat service
            cli = (
                f"{ORCHESTRATOR.env_var}={self.orchestrator.addr} "
                f"{self.declared[0].env_var}={seat.addr} {cli}"
            )
        return "\n".join(
            [
                f"FlightSaga is up ({self._where()}, fault injection enabled):",
                *([f"  logs per service in {self.log_dir}"] if self.log_dir else []),
                *rows,
                "Try:",
                f"  {cli} book {flight}",
                f"  {cli} book {flight} --fail-at payment",
                f"  .venv/bin/grpcurl -plaintext {self.orchestrator.addr} list",
                "Press Ctrl-C to stop.",
            ]
        )

    async def stop(self) -> None:
        """SIGTERM every service (dashboard first, participants last), then SIGKILL stragglers."""
        running = [s for s in reversed(self.services) if s.proc and s.proc.returncode is None]
        for svc in running:
            assert svc.proc is not None
            with contextlib.suppress(ProcessLookupError):
                svc.proc.terminate()
        for svc in running:
            assert svc.proc is not None
            try:
                await asyncio.wait_for(svc.proc.wait(), STOP_GRACE)
            except TimeoutError:
                self.say(f"{svc.name} did not stop within {STOP_GRACE:.0f}s; killing it")
                with contextlib.suppress(ProcessLookupError):
                    svc.proc.kill()
                await svc.proc.wait()
        await asyncio.gather(*self._pumps, return_exceptions=True)

    async def run(self) -> int:
        """Start, print the banner, wait for Ctrl-C/SIGTERM or a dying service; stop all."""
        stop = stop_on_signals()
        try:
            lock = lock_data_dir(self.data_dir)
        except NotStarted as exc:
            self.say(f"error: {exc}\nNothing was started.")
            return 1
        with lock:
            return await self._run_locked(stop)

    async def _run_locked(self, stop: asyncio.Event) -> int:
        try:
            self.check_ports()
            await self.start()
        except NotStarted as exc:
            self.say(f"error: {exc}\nNothing was started.")
            return 1
        except StartError as exc:
            self.say(f"error: {exc}\nAll FlightSaga services were stopped.")
            return 1
        self.say(self.banner())
        waits = {asyncio.create_task(s.proc.wait()): s for s in self.services if s.proc}
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([stopper, *waits], return_when=asyncio.FIRST_COMPLETED)
        code = 0
        for task in done:
            if task in waits:
                svc = waits[task]
                self.say(
                    f"error: {svc.name} exited unexpectedly (exit code {task.result()}); "
                    "stopping the others"
                )
                code = 1
        self.say("Stopping FlightSaga...")
        stopper.cancel()
        await self.stop()
        for task in waits:
            task.cancel()
        self.say("All FlightSaga services stopped.")
        return code
