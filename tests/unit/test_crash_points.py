"""The crash points' test mode (sagakit.testhooks' durable-write point) and the matrix's pure
parts: its refusal outside tests, its plans, the points a recorded run gives, and how what
recovery did is told."""

from __future__ import annotations

import json
import multiprocessing
import signal
from collections import deque
from pathlib import Path

import pytest

from chaos.crashplan import DurableWrite, points, read_record
from chaos.crashreport import LoggedEvent, answers, recovery
from orchestrator.config import OrchestratorConfig
from sagakit import testhooks
from sagakit.config import ConfigError

COMPLETED_WRITES = [
    DurableWrite(1, ("SAGA_STARTED", "STEP_STARTED reserve_seat")),
    DurableWrite(2, ("STEP_SUCCEEDED reserve_seat", "STEP_STARTED process_payment")),
    DurableWrite(3, ("STEP_SUCCEEDED process_payment", "SAGA_COMPLETED")),
]


def test_the_crash_mode_is_refused_without_fault_injection(tmp_path: Path) -> None:
    env = {"FLIGHTSAGA_TEST_HOOKS": str(tmp_path)}
    with pytest.raises(ConfigError, match=r"FLIGHTSAGA_TEST_HOOKS.*FAULT_INJECTION=enabled"):
        OrchestratorConfig.from_env(env)
    armed = OrchestratorConfig.from_env({**env, "FAULT_INJECTION": "enabled"})
    assert armed.test_hooks == tmp_path


@pytest.mark.parametrize(
    ("text", "action", "when", "write"),
    [
        ("record", "record", "", 0),
        ("kill after 3", "kill", "after", 3),
        ("kill before 1\n", "kill", "before", 1),
    ],
)
def test_a_plan_reads_as_written(text: str, action: str, when: str, write: int) -> None:
    plan = testhooks.parse_plan(text)
    assert (plan.action, plan.when, plan.write) == (action, when, write)


@pytest.mark.parametrize("text", ["kill", "kill after 0", "kill during 2", "kill after x", "stop"])
def test_a_malformed_plan_is_refused_with_the_grammar(text: str) -> None:
    with pytest.raises(ValueError, match="kill after K"):
        testhooks.parse_plan(text)


def test_record_lists_each_saga_s_writes_in_order(tmp_path: Path) -> None:
    (tmp_path / testhooks.DURABLE).write_text("record")
    testhooks.arm(tmp_path)
    try:
        for saga, events in (("s1", ["A"]), ("s2", ["X"]), ("s1", ["B", "C"])):
            testhooks.durable_write("before", saga, events)
            testhooks.durable_write("after", saga, events)
    finally:
        testhooks.arm(None)
    log = tmp_path / f"{testhooks.DURABLE}.log"
    assert read_record(log, "s1") == [DurableWrite(1, ("A",)), DurableWrite(2, ("B", "C"))]
    assert read_record(log, "s2") == [DurableWrite(1, ("X",))]


def _pass_writes(folder: Path, writes: int) -> None:
    testhooks.arm(folder)
    for n in range(1, writes + 1):
        testhooks.durable_write("before", "saga-1", [f"E{n}"])
        testhooks.durable_write("after", "saga-1", [f"E{n}"])


@pytest.mark.parametrize(("plan", "events"), [("kill after 2", ["E2"]), ("kill before 3", ["E3"])])
def test_kill_is_a_sigkill_at_the_planned_write_and_fires_once(
    tmp_path: Path, plan: str, events: list[str]
) -> None:
    (tmp_path / testhooks.DURABLE).write_text(plan)
    child = multiprocessing.get_context("fork").Process(target=_pass_writes, args=(tmp_path, 5))
    child.start()
    child.join(30)
    assert child.exitcode == -signal.SIGKILL
    reached = json.loads((tmp_path / f"{testhooks.DURABLE}.reached").read_text())
    assert reached == {
        "saga_id": "saga-1",
        "when": plan.split()[1],
        "write": int(plan.split()[2]),
        "events": events,
    }
    assert not (tmp_path / testhooks.DURABLE).exists()  # a restarted process runs on


def test_points_are_after_every_write_and_before_every_write_with_an_outcome() -> None:
    got = [(p.id, p.durable, p.plan) for p in points("completed", COMPLETED_WRITES)]
    assert got == [
        ("completed/after-1", 2, "kill after 1"),
        ("completed/before-2", 2, "kill before 2"),
        ("completed/after-2", 4, "kill after 2"),
        ("completed/before-3", 4, "kill before 3"),
        ("completed/after-3", 6, "kill after 3"),
    ]


def test_recovery_pairs_each_call_with_the_participant_s_own_answer() -> None:
    lines = [
        "t INFO seat_service cid=c saga=s1 trace=- [SAGA STEP] reserve_seat Do replayed (barrier)",
        "t INFO seat_service cid=c saga=s2 trace=- [SAGA STEP] reserve_seat Do committed",
        "t WARNING payment_service cid=c saga=s1 trace=- [FAULT] injected business failure at "
        "process_payment do",
        "t INFO seat_service cid=c saga=s1 trace=- [COMPENSATION] reserve_seat Compensate "
        "committed",
    ]
    said = answers(lines, "s1")
    assert said[("reserve_seat", "Do")] == deque(["replayed (barrier)"])
    after = [
        LoggedEvent("STEP_STARTED", "reserve_seat", 2),
        LoggedEvent("STEP_SUCCEEDED", "reserve_seat", 2),
        LoggedEvent("STEP_STARTED", "process_payment", 1),
        LoggedEvent("STEP_FAILED_EVENT", "process_payment", 1),
        LoggedEvent("COMPENSATION_STARTED", "reserve_seat", 1),
        LoggedEvent("SAGA_COMPENSATED", "", 0),
    ]
    assert recovery(after, said, reconciled=False) == [
        "Do reserve_seat #2: replayed (barrier)",
        "Do process_payment #1: injected business failure",
        "process_payment failed: compensate",
        "Compensate reserve_seat #1: committed",
        "COMPENSATED",
    ]
    assert recovery([], {}, reconciled=True) == [
        "bookings log: the finished saga appended at start",
        "nothing left to drive",
    ]
