"""The e2e tier's target: the whole stack as separate processes.

By default (FLIGHTSAGA_STACK unset or `local`) the session launches the real stack with
`flightsaga up` on free ports, data and per-service logs in a tmp dir, waits for its banner, and
at the end stops it with SIGINT (as Ctrl-C does) and checks that every service process is gone.
With FLIGHTSAGA_STACK=compose it uses the docker-compose stack already running on its published
ports (tools.COMPOSE_PORTS: FLIGHTSAGA_COMPOSE_<SERVICE>_PORT, default 127.0.0.1:50150-50154,
dashboard 8180) and launches nothing.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from sagakit.healthprobe import HEALTHY, check_grpc
from tests.e2e.tools import COMPOSE_PORTS, SERVICES, Stack, launch_until_up, wait_gone

MODE = os.environ.get("FLIGHTSAGA_STACK", "").strip().lower() or "local"
if MODE not in ("local", "compose"):
    raise pytest.UsageError(f"FLIGHTSAGA_STACK must be 'local' or 'compose', got {MODE!r}")

local_only = pytest.mark.skipif(
    MODE == "compose",
    reason="needs the stack launched by this session (flightsaga up): "
    "not applicable to docker-compose (FLIGHTSAGA_STACK=compose)",
)


def _compose_stack() -> Stack:
    stack = Stack("compose", dict(COMPOSE_PORTS))
    down = []
    for name in SERVICES:
        code, why = check_grpc(stack.addr(name), timeout=5.0)
        if code != HEALTHY:
            down.append(why)
    if down:
        pytest.fail(
            "FLIGHTSAGA_STACK=compose but the docker-compose stack is not healthy on its published "
            "ports (FLIGHTSAGA_COMPOSE_<SERVICE>_PORT):\n  " + "\n  ".join(down),
            pytrace=False,
        )
    return stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if MODE == "compose":
        yield _compose_stack()
        return
    up = launch_until_up(tmp_path_factory.mktemp("stack"))
    assert len(up.children) == 6, f"expected 6 service processes, found {up.children}"
    try:
        yield up.stack()
    finally:
        code = up.stop(signal.SIGINT)
        left = wait_gone(up.children)
        if left:
            up.kill_all()
        assert not left, f"service processes still running after Ctrl-C: {left}"
        assert code == 0, f"flightsaga up exited {code} on Ctrl-C:\n{up.output()[-3000:]}"
