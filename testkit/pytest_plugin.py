"""The conformance clauses inside a project's own tests: a `conformance` fixture.

pytest_plugins = ("testkit.pytest_plugin",)

async def test_my_participant_conforms(conformance, my_participant_addr):
    await conformance(my_participant_addr, MY_SAGA, "my_step")  # fails naming the clauses
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import pytest

from sagas.declare import SagaDeclaration
from testkit.conformance import conform
from testkit.report import Report

Conformance = Callable[..., Awaitable[Report]]


async def _check(
    addr: str, saga: SagaDeclaration, step: str, only: Sequence[str] = (), expect: bool = True
) -> Report:
    """Run the clauses; with `expect` (the default) fail the test unless every clause passed,
    with the report (each failed clause's problems and evidence) as the failure's message."""
    report = await conform(addr, saga, step, only)
    if expect and not report.passed:
        pytest.fail(report.text(), pytrace=False)
    return report


@pytest.fixture
def conformance() -> Conformance:
    """A check that the participant at an address keeps the contract:
    `await conformance(addr, saga, step)`."""
    return _check
