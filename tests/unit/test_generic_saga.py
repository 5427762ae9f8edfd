"""The engine is a small saga SDK: it knows neither gRPC nor flights.

A second saga, a money transfer of two steps against two toy accounts, runs on the same engine
with a real SQLite log: success, a refusal compensated, a crash recovered. Saga definitions
carry a version; a saga is driven by the version it started under, or stopped loudly.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from orchestrator.engine.definition import RetryPolicy, SagaDefinition, StepCall, StepSpec
from orchestrator.engine.errors import StepRefused
from orchestrator.engine.model import SagaEvent, SagaEventType, SagaStatus, StepState
from orchestrator.engine.runner import RunnerSettings, SagaRunner
from orchestrator.engine.store import SagaStore

ENGINE = Path(__file__).resolve().parents[2] / "orchestrator" / "engine"


def test_the_engine_imports_neither_grpc_nor_the_flight_saga() -> None:
    banned = (
        "grpc",
        "flightsaga",
        "google.protobuf",
        "orchestrator.booking_saga",
        "sagas",
        "sagakit.errors",
    )
    for path in ENGINE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert not name.startswith(banned), f"{path.name} imports {name}"


class Bank:
    """Two toy accounts with an idempotency barrier per (saga, step), as participants keep."""

    def __init__(self) -> None:
        self.balance = {"alice": 100, "bob": 0}
        self.done: dict[tuple[str, str], int] = {}
        self.frozen: set[str] = set()

    def move(self, saga_id: str, step: str, account: str, amount: int) -> dict[str, Any]:
        if account in self.frozen:
            raise StepRefused(f"FAILED_PRECONDITION: account {account} is frozen")
        if (saga_id, step) not in self.done:
            if self.balance[account] + amount < 0:
                raise StepRefused(f"FAILED_PRECONDITION: {account} has too little")
            self.balance[account] += amount
            self.done[(saga_id, step)] = amount
        return {"account": account, "moved": self.done[(saga_id, step)]}

    def undo(self, saga_id: str, step: str, account: str) -> dict[str, Any]:
        amount = self.done.pop((saga_id, step), 0)
        self.balance[account] -= amount
        return {"account": account, "undone": amount}


def transfer(bank: Bank, version: int = 1) -> SagaDefinition:
    def amount(call: StepCall) -> int:
        return int(call.payload.decode())

    async def debit(call: StepCall) -> dict[str, Any]:
        return bank.move(call.saga_id, "debit", "alice", -amount(call))

    async def credit(call: StepCall) -> dict[str, Any]:
        return bank.move(call.saga_id, "credit", "bob", amount(call))

    async def undo_debit(call: StepCall) -> dict[str, Any]:
        return bank.undo(call.saga_id, "debit", "alice")

    async def undo_credit(call: StepCall) -> dict[str, Any]:
        return bank.undo(call.saga_id, "credit", "bob")

    retry = RetryPolicy(2, 0.001, 0.002, 0.2)
    names = ("debit", "credit") if version == 1 else ("withdraw", "deposit")
    return SagaDefinition(
        "transfer",
        (
            StepSpec(names[0], debit, undo_debit, 1.0, retry),
            StepSpec(names[1], credit, undo_credit, 1.0, retry),
        ),
        summarize=lambda results: {"moved": results.get(names[1], {}).get("moved", 0)},
        version=version,
    )


async def runner_for(path: Path, *definitions: SagaDefinition) -> SagaRunner:
    store = SagaStore(path / "transfers.db", "NORMAL")
    await store.open()
    return SagaRunner(store, definitions, RunnerSettings(claim_every=0))


async def test_a_transfer_saga_runs_and_compensates_on_the_same_engine(tmp_path: Path) -> None:
    bank = Bank()
    runner = await runner_for(tmp_path, transfer(bank))
    await runner.start(runner.new_saga("transfer", "t1", "cid", b"30"))
    done = await runner.wait("t1", 10)
    assert done is not None and done.status == SagaStatus.COMPLETED
    assert bank.balance == {"alice": 70, "bob": 30}

    bank.frozen.add("bob")
    await runner.start(runner.new_saga("transfer", "t2", "cid", b"20"))
    undone = await runner.wait("t2", 10)
    assert undone is not None and undone.status == SagaStatus.COMPENSATED, undone
    assert undone.compensation_order == ["debit"]
    assert bank.balance == {"alice": 70, "bob": 30}
    await runner.store.close()


async def logged_mid_credit(runner: SagaRunner, saga_id: str) -> None:
    """The log as a kill -9 leaves it: debit done, credit started with no answer."""
    saga = runner.new_saga("transfer", saga_id, "cid", b"10")
    saga.event_seq = 1
    await runner.store.create(saga, SagaEvent(saga_id, 1, SagaEventType.SAGA_STARTED, saga.status))
    saga.steps[0].state, saga.steps[0].attempts = StepState.SUCCEEDED, 1
    saga.steps[0].result = {"account": "alice", "moved": -10}
    saga.steps[1].state, saga.steps[1].attempts = StepState.EXECUTING, 1
    await runner.store.save(saga, saga.steps, None)


async def test_a_transfer_in_flight_at_a_crash_is_finished_by_recovery(tmp_path: Path) -> None:
    bank = Bank()
    bank.move("t3", "debit", "alice", -10)  # what the killed runner's debit did
    before = await runner_for(tmp_path, transfer(bank))
    await logged_mid_credit(before, "t3")
    await before.store.close()

    after = await runner_for(tmp_path, transfer(bank))
    assert await after.recover() == 1
    done = await after.wait("t3", 10)
    assert done is not None and done.status == SagaStatus.COMPLETED
    assert bank.balance == {"alice": 90, "bob": 10}  # the debit was not repeated
    await after.store.close()


async def test_a_saga_is_driven_by_the_version_it_started_under(tmp_path: Path) -> None:
    bank = Bank()
    old = await runner_for(tmp_path, transfer(bank, 1))
    await logged_mid_credit(old, "t4")
    await old.store.close()

    # Version 2 renamed the steps; the deployment keeps version 1 for the sagas in flight.
    both = await runner_for(tmp_path, transfer(bank, 1), transfer(bank, 2))
    await both.recover()
    done = await both.wait("t4", 10)
    assert done is not None and done.status == SagaStatus.COMPLETED
    assert [s.name for s in done.steps] == ["debit", "credit"]
    fresh = both.new_saga("transfer", "t5", "cid", b"5")
    assert (fresh.definition_version, [s.name for s in fresh.steps]) == (2, ["withdraw", "deposit"])
    await both.store.close()


async def test_a_saga_of_a_version_the_runner_lacks_is_stopped_loudly(tmp_path: Path) -> None:
    bank = Bank()
    old = await runner_for(tmp_path, transfer(bank, 1))
    await logged_mid_credit(old, "t6")
    await old.store.close()

    only_new = await runner_for(tmp_path, transfer(bank, 2))
    await only_new.recover()
    stopped = await only_new.wait("t6", 10)
    assert stopped is not None and stopped.status == SagaStatus.FAILED
    assert "transfer v1" in stopped.error and "v2" in stopped.error, stopped.error
    events = await only_new.store.events("t6")
    assert events[-1].type == SagaEventType.SAGA_FAILED
    await only_new.store.close()

    # Deployed again with version 1 alongside: an operator's resume finishes it.
    fixed = await runner_for(tmp_path, transfer(bank, 1), transfer(bank, 2))
    await fixed.resume("t6", clear_options=False)
    done = await fixed.wait("t6", 10)
    assert done is not None and done.status == SagaStatus.COMPLETED, done.error
    await fixed.store.close()


def test_a_policy_of_no_attempts_is_refused() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="delays"):
        RetryPolicy(base_delay=2.0, max_delay=1.0)
