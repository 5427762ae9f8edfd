"""The system under test: processes this campaign started, or a deployment given by address.

A local stack is the `flightsaga up` launcher with output to files and no dashboard; every
kill -9, SIGSTOP and SIGCONT goes to the pid of a child this campaign spawned and has not yet
reaped (so the pid cannot have been reused), never to a process found by name.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from launcher.ports import free_base_port
from launcher.supervisor import Launcher, Service, code_env
from sagakit.auth import TOKENS_VAR
from sagakit.config import CA_VAR, CERT_VAR, KEY_VAR, TlsConfig
from sagas.peers import Addrs, Peers
from sagas.services import PARTICIPANTS

# Our own channels reconnect within a second of a restart: the campaign measures the services'
# recovery, not its own client's reconnect backoff (which grows to minutes by default).
CHANNEL_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
)


def open_peers(addrs: Addrs) -> Peers:
    """One long-lived channel and stub per service, shared by every client of the campaign:
    plaintext, no token, gRPC's default pick_first (the options above)."""
    return Peers(addrs.as_dict(), tls=TlsConfig(), token="", options=CHANNEL_OPTIONS)


@dataclass
class ProcessEvent:
    """One signal or restart, as done: which service, which pid, when (s since the start)."""

    service: str
    action: str  # "start", "kill -9", "SIGSTOP", "SIGCONT", "restart"
    pid: int
    at_s: float
    phase: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LocalStack:
    """The five gRPC services as child processes on free ports of 127.0.0.1."""

    data_dir: Path
    env: dict[str, str]
    code_dir: Path | None = None
    events: list[ProcessEvent] = field(default_factory=list)
    databases: dict[str, str] | None = None  # DATABASE_URL by database name; default SQLite
    phase: str = ""  # stamped on events, for the report

    def __post_init__(self) -> None:
        # Its own plaintext stack, whatever transport the caller's environment names for some
        # other deployment (open_peers talks plaintext, without a token).
        env = {CERT_VAR: "", KEY_VAR: "", CA_VAR: "", TOKENS_VAR: "", **self.env}
        if self.code_dir is not None:
            env.update(code_env(self.code_dir))
        self.launcher = Launcher(
            self.data_dir,
            free_base_port(),
            dashboard=False,
            out=io.StringIO(),  # the launcher's own notices; our report says what happened
            extra_env=env,
            log_dir=self.data_dir / "logs",
            cwd=self.code_dir,
            pump_output=False,  # our loop generates load; it must not carry every log line
            databases=self.databases,
        )
        self._t0 = time.monotonic()
        self._stopped: set[str] = set()
        self.addrs = Addrs(
            self.launcher.orchestrator.addr, *(s.addr for s in self.launcher.participants)
        )

    def _svc(self, name: str) -> Service:
        for svc in self.launcher.services:
            if svc.name == name:
                return svc
        raise KeyError(name)

    def _record(self, name: str, action: str, pid: int) -> ProcessEvent:
        event = ProcessEvent(name, action, pid, round(time.monotonic() - self._t0, 3), self.phase)
        self.events.append(event)
        return event

    async def start(self) -> None:
        await self.launcher.start()
        self._t0 = time.monotonic()
        for svc in self.launcher.services:
            self._record(svc.name, "start", self.pid(svc.name))
        if self.code_dir is not None:
            self.check_code_dir()

    def check_code_dir(self) -> None:
        """`python -m` imports from its working directory first: prove each one runs there."""
        assert self.code_dir is not None
        for svc in self.launcher.services:
            cwd = Path(os.readlink(f"/proc/{self.pid(svc.name)}/cwd"))
            if cwd != self.code_dir.resolve():
                raise RuntimeError(f"{svc.name} runs from {cwd}, not from {self.code_dir}")

    def pid(self, name: str) -> int:
        proc = self._svc(name).proc
        if proc is None or proc.returncode is not None:
            raise RuntimeError(f"{name} is not running")
        return int(proc.pid)

    async def kill9(self, name: str) -> ProcessEvent:
        svc = self._svc(name)
        pid = self.pid(name)  # our unreaped child: the pid is still ours
        os.kill(pid, signal.SIGKILL)
        assert svc.proc is not None
        await svc.proc.wait()
        self._stopped.discard(name)
        return self._record(name, "kill -9", pid)

    async def exited(self, name: str, within: float) -> int:
        """Wait for a service that stops on its own (a test hook's kill); its exit code, the
        negated signal number if a signal ended it (TimeoutError if it runs on)."""
        proc = self._svc(name).proc
        assert proc is not None
        code = await asyncio.wait_for(proc.wait(), within)
        self._record(name, f"exited {code}", int(proc.pid))
        return code

    async def restart(self, name: str) -> ProcessEvent:
        """Start the service again on the same port and database; wait until it serves."""
        svc = self._svc(name)
        await self.launcher.spawn(svc)
        await self.launcher.wait_healthy(svc)
        return self._record(name, "restart", self.pid(name))

    def sigstop(self, name: str) -> ProcessEvent:
        pid = self.pid(name)
        os.kill(pid, signal.SIGSTOP)
        self._stopped.add(name)
        return self._record(name, "SIGSTOP", pid)

    def sigcont(self, name: str) -> ProcessEvent:
        pid = self.pid(name)
        os.kill(pid, signal.SIGCONT)
        self._stopped.discard(name)
        return self._record(name, "SIGCONT", pid)

    async def stop(self) -> None:
        # A stopped process cannot act on SIGTERM: wake it first, then stop everything.
        for name in list(self._stopped):
            self.sigcont(name)
        await self.launcher.stop()

    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    def bookings_log(self) -> Path:
        return self.data_dir / "bookings.jsonl"


@dataclass
class TargetStack:
    """A deployment somebody else runs: reads and bookings only, no process control."""

    addrs: Addrs
    events: list[ProcessEvent] = field(default_factory=list)
    phase: str = ""

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


def target_addrs(orchestrator: str, participants: dict[str, str | None]) -> Addrs:
    """Participants default to the ports after the orchestrator's (the default layout)."""
    host, _, port = orchestrator.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"--target {orchestrator!r}: expected HOST:PORT")
    base = int(port)
    got = {p.name: participants.get(p.name) or p.addr(host, base) for p in PARTICIPANTS}
    return Addrs(orchestrator=orchestrator, **got)
