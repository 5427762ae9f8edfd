"""The compose tier: tests that need the docker-compose stack (scripts/compose-test.sh).

They run only with FLIGHTSAGA_STACK=compose, against the ports the stack publishes on
127.0.0.1; otherwise every test here is skipped, with the reason printed in the summary.
When they do run, the stack must answer: an unreachable stack fails them (never skips).
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator

import pytest

from tests.compose import stackctl

COMPOSE = os.environ.get("FLIGHTSAGA_STACK", "").strip().lower() == "compose"
SKIP_REASON = (
    "tests/compose skipped: they need the docker-compose stack and run only in the compose "
    "tier (scripts/compose-test.sh, make compose-test), which sets FLIGHTSAGA_STACK=compose"
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.path).startswith(here + os.sep):
            item.add_marker(pytest.mark.compose)
            if not COMPOSE:
                item.add_marker(pytest.mark.skip(reason=SKIP_REASON))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    skipped = terminalreporter.stats.get("skipped", [])
    if not COMPOSE and any(SKIP_REASON in str(getattr(r, "longrepr", "")) for r in skipped):
        terminalreporter.write_sep("!", SKIP_REASON, yellow=True, bold=True)


@pytest.fixture(scope="session")
def compose_stack() -> None:
    """Every service of the stack answers its health check, or the tests here fail."""
    deadline = time.monotonic() + 60
    pending = list(stackctl.SERVICES)
    while pending:
        pending = [s for s in pending if not stackctl.probe(s)]
        if pending and time.monotonic() > deadline:
            pytest.fail(
                "FLIGHTSAGA_STACK=compose but these services do not answer on 127.0.0.1: "
                + ", ".join(pending)
            )
        if pending:
            time.sleep(0.5)


@pytest.fixture
async def clients(compose_stack: None) -> AsyncIterator[stackctl.Clients]:
    c = stackctl.Clients()
    try:
        yield c
    finally:
        await c.close()
