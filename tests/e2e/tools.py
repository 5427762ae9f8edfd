"""Helpers for the e2e tier: the target stack, `flightsaga up` as a child, the CLI, grpcurl.

Everything here drives real processes: the `flightsaga` console script and the real `grpcurl`
binary from the virtualenv, against services on 127.0.0.1. Nothing runs a gRPC server in the
test process, so plain blocking `subprocess.run` is fine.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sagas import services
from sagas.booking import STEP_ORDER
from tests.support.dates import flight_date

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
FLIGHTSAGA = str(BIN / "flightsaga")
GRPCURL = str(BIN / "grpcurl")

BANNER = "FlightSaga is up"
SERVICES = services.NAMES  # orchestrator, seat, loyalty, payment, booking
FULL_NAMES = {
    "orchestrator": "flightsaga.v1.Orchestrator",
    "seat": "flightsaga.v1.SeatService",
    "loyalty": "flightsaga.v1.LoyaltyService",
    "payment": "flightsaga.v1.PaymentService",
    "booking": "flightsaga.v1.BookingService",
}
# The default ports (docs/api.md; what docker-compose publishes and the README uses).
DEFAULT_PORTS = {
    "orchestrator": 50050,
    "seat": 50051,
    "loyalty": 50052,
    "payment": 50053,
    "booking": 50054,
    "dashboard": 8080,
}
# docker-compose.yml publishes on host ports of its own (FLIGHTSAGA_COMPOSE_<SERVICE>_PORT, with
# these defaults), away from DEFAULT_PORTS so that a `make up` can run beside it.
COMPOSE_DEFAULT_PORTS = {name: port + 100 for name, port in DEFAULT_PORTS.items()}
COMPOSE_PORTS = {
    name: int(os.environ.get(f"FLIGHTSAGA_COMPOSE_{name.upper()}_PORT", "").strip() or port)
    for name, port in COMPOSE_DEFAULT_PORTS.items()
}
STEPS = STEP_ORDER
ROUTE = ("JFK", "LAX", flight_date(1))
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


@dataclass
class Stack:
    """The system under test: where each service answers, and the env the CLI needs for it."""

    mode: str  # "local" (launched by this session) or "compose" (already running)
    ports: dict[str, int]
    log_dir: Path | None = None
    data_dir: Path | None = None

    def addr(self, service: str) -> str:
        return f"127.0.0.1:{self.ports[service]}"

    @property
    def orchestrator(self) -> str:
        return self.addr("orchestrator")

    @property
    def seat(self) -> str:
        return self.addr("seat")

    @property
    def loyalty(self) -> str:
        return self.addr("loyalty")

    @property
    def payment(self) -> str:
        return self.addr("payment")

    @property
    def booking(self) -> str:
        return self.addr("booking")

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['dashboard']}"

    @property
    def env(self) -> dict[str, str]:
        """The environment for CLI calls against this stack."""
        return {
            **os.environ,
            "ORCHESTRATOR_ADDR": self.orchestrator,
            "SEAT_SERVICE_ADDR": self.seat,
        }

    @property
    def local(self) -> bool:
        return self.mode == "local"


# --- processes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    start: int  # start time in clock ticks since boot: tells a reused pid apart
    state: str
    cmdline: str


def read_proc(pid: int) -> Proc | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    # comm (field 2) is in parentheses and may contain spaces: split after the last ')'.
    rest = stat[stat.rindex(")") + 2 :].split()
    return Proc(
        pid=pid,
        ppid=int(rest[1]),
        start=int(rest[19]),
        state=rest[0],
        cmdline=cmd.replace(b"\0", b" ").decode(errors="replace").strip(),
    )


def children_of(ppid: int) -> list[Proc]:
    """Live processes whose parent is `ppid` (only ours: identified by parent pid)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            proc = read_proc(int(entry.name))
            if proc is not None and proc.ppid == ppid and proc.state != "Z":
                found.append(proc)
    return found


def alive(proc: Proc) -> bool:
    now = read_proc(proc.pid)
    return now is not None and now.start == proc.start and now.state != "Z"


def wait_gone(procs: Sequence[Proc], timeout: float = 10.0) -> list[Proc]:
    """Wait until every process is gone; returns those still running at the timeout."""
    end = time.monotonic() + timeout
    left = [p for p in procs if alive(p)]
    while left and time.monotonic() < end:
        time.sleep(0.05)
        left = [p for p in left if alive(p)]
    return left


def _pdeathsig() -> None:
    # If pytest dies, the launcher gets SIGTERM and stops its services: no strays on the machine.
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports() -> tuple[int, int]:
    """A base port with base..base+4 free, and a free dashboard port (checked now, not reserved).

    Both below the usual ephemeral range (32768+), where outgoing connections take their source
    ports, so a port found free now is not taken by some client a moment later.
    """
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 30000)
        dash = rng.randrange(30000, 32700)
        if all(port_free(p) for p in (*range(base, base + 5), dash)):
            return base, dash
    raise RuntimeError("no free port range on 127.0.0.1")


@dataclass
class Launched:
    """One `flightsaga up` run: its process, its output file and its children."""

    root: Path
    base_port: int
    dashboard_port: int
    proc: subprocess.Popen[bytes]
    out_path: Path
    children: list[Proc] = field(default_factory=list)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_dir(self) -> Path:
        return self.root / "logs"

    def output(self) -> str:
        return self.out_path.read_text(errors="replace")

    def stack(self) -> Stack:
        ports = {s.name: self.base_port + s.port_offset for s in services.SERVICES}
        ports["dashboard"] = self.dashboard_port
        return Stack("local", ports, log_dir=self.log_dir, data_dir=self.data_dir)

    def wait(self, timeout: float = STOP_TIMEOUT) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"flightsaga up still running {timeout:.0f}s later; output:\n"
                + self.output()[-3000:]
            ) from None

    def wait_for(self, text: str, timeout: float = START_TIMEOUT) -> bool:
        """Wait for `text` in the output; False if the launcher exited first or time ran out."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if text in self.output():
                return True
            if self.proc.poll() is not None:
                return text in self.output()
            time.sleep(0.05)
        return False

    def service_pids(self) -> dict[str, Proc]:
        """The launcher's children by service name (`python -m seat_service` -> seat)."""
        named = {}
        for proc in children_of(self.proc.pid):
            module = proc.cmdline.rsplit(" ", 1)[-1]
            named[module.removesuffix("_service")] = proc
        return named

    def stop(self, sig: int = signal.SIGINT) -> int:
        """Signal the launcher (as Ctrl-C does) and wait; returns its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.wait()
        return code

    def kill_all(self) -> None:
        """Last resort for a broken test: kill the launcher's children we recorded, then it."""
        for proc in [*self.children, *self.service_pids().values()]:
            if alive(proc):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def launch(
    root: Path,
    base_port: int | None = None,
    dashboard_port: int | None = None,
    dashboard: bool = True,
    extra: Sequence[str] = (),
    free_ports_flag: bool = False,
) -> Launched:
    """Start `flightsaga up` in `root` (data/, logs/, up.out) without waiting for it;
    `extra`: more arguments for `up` (e.g. --database URL); `free_ports_flag`: `--free-ports`
    instead of ports chosen here (base_port and dashboard_port are then 0: read the output)."""
    if free_ports_flag:
        base_port = dashboard_port = 0
    elif base_port is None or dashboard_port is None:
        base, dash = free_ports()
        base_port = base if base_port is None else base_port
        dashboard_port = dash if dashboard_port is None else dashboard_port
    root.mkdir(parents=True, exist_ok=True)
    out_path = root / "up.out"
    argv = [
        FLIGHTSAGA,
        "up",
        "--data-dir",
        str(root / "data"),
        "--log-dir",
        str(root / "logs"),
        *(
            ["--free-ports"]
            if free_ports_flag
            else ["--base-port", str(base_port), "--dashboard-port", str(dashboard_port)]
        ),
    ]
    if not dashboard:
        argv.append("--no-dashboard")
    argv.extend(extra)
    env = {**os.environ, "LOG_FORMAT": "console", "LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1"}
    with out_path.open("wb") as out:
        proc = subprocess.Popen(
            argv,
            cwd=root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_pdeathsig,
        )
    return Launched(root, base_port, dashboard_port, proc, out_path)


def launch_until_up(
    root: Path, dashboard: bool = True, tries: int = 3, extra: Sequence[str] = ()
) -> Launched:
    """Launch on free ports and wait for the banner; retry on a port race with someone else."""
    last = ""
    for attempt in range(tries):
        up = launch(root / f"try{attempt}", dashboard=dashboard, extra=extra)
        if up.wait_for(BANNER):
            up.children = list(up.service_pids().values())
            return up
        last = up.output()
        if up.proc.poll() is None:
            up.kill_all()
        if not any(
            why in last for why in ("Address already in use", "cannot listen", "already in use")
        ):
            break
    raise AssertionError(f"flightsaga up did not print {BANNER!r}; its output:\n{last[-4000:]}")


# --- commands ----------------------------------------------------------------------------------


@dataclass
class Result:
    argv: list[str]
    code: int
    out: str
    err: str

    def __str__(self) -> str:
        return f"$ {' '.join(self.argv)}\n[exit {self.code}]\n{self.out}\n{self.err}"


def run(
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    timeout: float = 60.0,
    cwd: Path | None = None,
) -> Result:
    done = subprocess.run(
        list(argv),
        env=dict(env) if env is not None else None,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        check=False,
    )
    return Result(list(argv), done.returncode, done.stdout, done.stderr)


def cli(stack: Stack, *args: str, env: Mapping[str, str] | None = None) -> Result:
    """`flightsaga ARGS` against the stack (ORCHESTRATOR_ADDR / SEAT_SERVICE_ADDR from it)."""
    return run([FLIGHTSAGA, *args], env=stack.env if env is None else env)


def grpcurl_transport(identity: str = "client") -> list[str]:
    """grpcurl's flags for the stack: `-plaintext` (`flightsaga up` on loopback), or, where the
    tests run with TLS_CA_FILE (the compose tier: mTLS), the CA and a certificate of
    FLIGHTSAGA_CERTS_DIR: `client`, or `orchestrator` for a participant's Do/Compensate."""
    ca = os.environ.get("TLS_CA_FILE", "").strip()
    if not ca:
        return ["-plaintext"]
    certs = Path(os.environ.get("FLIGHTSAGA_CERTS_DIR", "").strip() or Path(ca).parent)
    return [
        "-cacert",
        ca,
        "-cert",
        str(certs / f"{identity}.pem"),
        "-key",
        str(certs / f"{identity}-key.pem"),
    ]


def grpcurl(*args: str, input: str | None = None) -> Result:
    return run([GRPCURL, *grpcurl_transport(), "-max-time", "30", *args], input=input)


def log_lines(stack: Stack, service: str) -> list[str]:
    assert stack.log_dir is not None
    path = stack.log_dir / f"{service}.log"
    return path.read_text(errors="replace").splitlines() if path.exists() else []
