"""SagaRunner.cancel, with step functions that hold until released and a real SQLite log."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from orchestrator.engine.definition import RetryPolicy, SagaDefinition, StepCall, StepSpec
from orchestrator.engine.errors import NotCancellable, SagaNotFound
from orchestrator.engine.model import CancelRequest, SagaEventType, SagaStatus, StepState
from orchestrator.engine.runner import RunnerSettings, SagaRunner
from orchestrator.engine.store import SagaStore

STEPS = ("a", "b", "c")


class Held:
    """Steps whose Do waits at `hold` (until released); every call is recorded."""

    def __init__(self, hold: str) -> None:
        self.hold = hold
        self.reached = asyncio.Event()
        self.release = asyncio.Event()
        self.calls: list[str] = []

    def definition(self) -> SagaDefinition:
        def action(name: str) -> Any:
            async def run(call: StepCall) -> dict[str, Any]:
                self.calls.append(f"do:{name}")
                if name == self.hold:
                    self.reached.set()
                    await self.release.wait()
                return {"step": name}

            return run

        def compensation(name: str) -> Any:
            async def run(call: StepCall) -> dict[str, Any]:
                self.calls.append(f"undo:{name}")
                return {"undone": name}

            return run

        retry = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.002, retry_for=0.3)
        specs = (StepSpec(n, action(n), compensation(n), 30.0, retry) for n in STEPS)
        return SagaDefinition("test", tuple(specs))


async def started(tmp_path: Path, held: Held) -> SagaRunner:
    store = SagaStore(tmp_path / "saga.db", "NORMAL")
    await store.open()
    runner = SagaRunner(store, [held.definition()], RunnerSettings(claim_every=0))
    await runner.start(runner.new_saga("test", "s1", "cid-1", b"{}"))
    await asyncio.wait_for(held.reached.wait(), 5)
    return runner


async def test_a_cancel_cuts_the_held_step_short_and_compensates_it_with_those_before(
    tmp_path: Path,
) -> None:
    held = Held("b")
    runner = await started(tmp_path, held)
    answered = await runner.cancel("s1", reason="customer called", by="ops")
    assert answered.cancel is not None and answered.cancel.by == "ops"
    saga = await runner.wait("s1", 5)
    assert saga is not None and saga.status == SagaStatus.COMPENSATED
    assert saga.error == "cancelled by ops: customer called"
    assert held.calls == ["do:a", "do:b", "undo:b", "undo:a"]  # b was in flight: may have run
    assert [s.state for s in saga.steps] == [
        StepState.COMPENSATED_STEP,
        StepState.COMPENSATED_STEP,
        StepState.SKIPPED,
    ]
    types = [e.type for e in await runner.store.events("s1")]
    assert types.count(SagaEventType.SAGA_CANCELLED) == 1
    logged = await runner.store.load("s1")
    assert logged is not None and logged.cancel == answered.cancel  # on the saga's row
    again = await runner.cancel("s1", reason="twice", by="someone")  # harmless
    assert again.cancel is not None and again.cancel.reason == "customer called"
    await runner.stop(1)
    await runner.store.close()


async def test_a_cancel_on_the_row_alone_keeps_the_saga_from_completing(tmp_path: Path) -> None:
    """Written by another replica: this driver is not told, yet its completion is refused."""
    held = Held("c")
    runner = await started(tmp_path, held)
    await runner.store.cancel("s1", CancelRequest("elsewhere", "from another replica"))
    held.release.set()  # the last Do succeeds: the saga would complete
    saga = await runner.wait("s1", 5)
    assert saga is not None and saga.status == SagaStatus.COMPENSATED
    assert saga.error == "cancelled by elsewhere: from another replica"
    assert held.calls == ["do:a", "do:b", "do:c", "undo:c", "undo:b", "undo:a"]
    types = [e.type for e in await runner.store.events("s1")]
    assert SagaEventType.SAGA_COMPLETED not in types
    assert types[-2:] == [SagaEventType.COMPENSATION_SUCCEEDED, SagaEventType.SAGA_COMPENSATED]
    await runner.stop(1)
    await runner.store.close()


async def test_what_cannot_be_cancelled(tmp_path: Path) -> None:
    held = Held("none")
    store = SagaStore(tmp_path / "saga.db", "NORMAL")
    await store.open()
    runner = SagaRunner(store, [held.definition()], RunnerSettings(claim_every=0))
    await runner.start(runner.new_saga("test", "s1", "cid-1", b"{}"))
    saga = await runner.wait("s1", 5)
    assert saga is not None and saga.status == SagaStatus.COMPLETED
    with pytest.raises(NotCancellable, match="is COMPLETED"):
        await runner.cancel("s1", reason="late", by="ops")
    with pytest.raises(SagaNotFound):
        await runner.cancel("nope", reason="x", by="ops")
    await runner.stop(1)
    await store.close()
