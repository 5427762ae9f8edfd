"""The matrix's cell runner over a real in-process stack: a cell whose saga ends otherwise than
its column says fails, naming what differs; an action taken while a step runs sees the step's
Do in flight."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from flightsaga.v1 import orchestrator_pb2 as pb
from sagas.booking import (
    CONFIRM_BOOKING,
    DEDUCT_LOYALTY_POINTS,
    PROCESS_PAYMENT,
    RESERVE_SEAT,
    STEP_ORDER,
)
from sagas.peers import Peers
from testkit.matrix import cells
from testkit.matrix.columns import CANCEL_REASON, COLUMNS, Column, During, Expect, Scenario
from testkit.matrix.effects import Effect
from tests.support.dates import flight_id
from tests.support.stack import Stack, running_stack


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path, STEP_TIMEOUT_MS="3000") as s:
        yield s


async def run_column(stack: Stack, column: Column, steps: Sequence[str]) -> list[cells.Cell]:
    todo = cells.plan_cells(STEP_ORDER, [column], "it", rows=steps)
    for cell in todo:
        cell.flight_id = flight_id("FS101", 3)
    await cells.run_all(cells.Runner(stack.peers, STEP_ORDER, cell_timeout_s=30), todo, 4)
    return todo


async def test_a_cell_that_ends_otherwise_fails_naming_the_status_and_each_step(
    stack: Stack,
) -> None:
    fail = next(c for c in COLUMNS if c.name == "fail")

    def claims_completed(k: int, steps: Sequence[str]) -> Scenario:
        real = fail.scenario(k, steps)
        assert isinstance(real, Scenario)
        everything = tuple(frozenset({Effect.EFFECTIVE}) for _ in steps)
        return Scenario(real.fail_at, "", Expect("COMPLETED", (), everything))

    [cell] = await run_column(stack, Column("wrong", "", claims_completed), [PROCESS_PAYMENT])
    assert not cell.passed
    [stop] = cell.stops
    assert stop.status == "COMPENSATED"
    assert stop.problems[0].startswith("status: expected COMPLETED, found COMPENSATED")
    assert stop.problems[1].startswith("compensation order: expected none")
    assert f"{RESERVE_SEAT} at its participant: expected effective, found undone" in stop.problems
    assert f"{PROCESS_PAYMENT} at its participant: expected effective, found none" in stop.problems


async def test_an_action_during_the_saga_runs_while_the_steps_do_is_in_flight(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []

    async def look(peers: Peers, saga_id: str, timeout: float) -> None:
        saga = await peers.orchestrator.GetSaga(pb.GetSagaRequest(saga_id=saga_id), timeout=5)
        seen.extend(f"{s.name}={pb.StepState.Name(s.state)}" for s in saga.steps)

    monkeypatch.setitem(cells.ACTIONS, "look", look)
    transient = next(c for c in COLUMNS if c.name == "transient=2")

    def held(k: int, steps: Sequence[str]) -> Scenario:
        real = transient.scenario(k, steps)
        assert isinstance(real, Scenario)
        # Held under the 3 s deadline: the step runs long enough to be seen, then succeeds.
        return Scenario("", f"{steps[k]}:delay=1000", real.expect, during=During("look", steps[k]))

    [cell] = await run_column(stack, Column("look", "", held), [PROCESS_PAYMENT])
    assert cell.passed, cell.stops
    assert f"{PROCESS_PAYMENT}=EXECUTING" in seen
    assert f"{RESERVE_SEAT}=SUCCEEDED" in seen


async def test_a_cancel_cell_ends_compensated_with_the_cancel_on_the_saga(stack: Stack) -> None:
    cancel = next(c for c in COLUMNS if c.name == "cancel")
    [first, held] = await run_column(stack, cancel, [RESERVE_SEAT, PROCESS_PAYMENT])
    assert first.passed and held.passed, (first.stops, held.stops, held.problems)
    [stop] = held.stops
    assert stop.status == "COMPENSATED"
    assert stop.compensations == [PROCESS_PAYMENT, DEDUCT_LOYALTY_POINTS, RESERVE_SEAT]
    assert stop.effects[CONFIRM_BOOKING] == "none"
    saga = await stack.peers.orchestrator.GetSaga(pb.GetSagaRequest(saga_id=held.saga_id))
    assert saga.cancel_reason == CANCEL_REASON and saga.cancelled_by
