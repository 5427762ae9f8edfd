"""The generic saga engine's state machine, with scripted step functions and a real SQLite log."""

from __future__ import annotations

import contextlib
import dataclasses
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from orchestrator.engine.definition import (
    RetryPolicy,
    SagaDefinition,
    StepCall,
    StepFn,
    StepSpec,
)
from orchestrator.engine.errors import StepErrored, StepRefused, StepUnreachable
from orchestrator.engine.model import SagaEvent, SagaEventType, SagaStatus, StepState, now
from orchestrator.engine.runner import RunnerSettings, SagaRunner
from orchestrator.engine.store import SagaStore

STEPS = ("a", "b", "c", "d")


# What a definition's step functions raise (the flight saga maps gRPC codes to these).
def refused() -> StepRefused:
    return StepRefused("ABORTED: scripted refusal")


def unreachable() -> StepUnreachable:
    return StepUnreachable("UNAVAILABLE: scripted outage")


def errored() -> StepErrored:
    return StepErrored("INTERNAL: scripted error")


class Script:
    """Per step, what each successive Do / Compensate call does: None = succeed, else raise."""

    def __init__(self) -> None:
        self.do: dict[str, list[BaseException | None]] = {s: [] for s in STEPS}
        self.undo: dict[str, list[BaseException | None]] = {s: [] for s in STEPS}
        self.calls: list[str] = []

    def _next(self, plan: list[BaseException | None]) -> None:
        outcome = plan.pop(0) if plan else None
        if outcome is not None:
            raise outcome

    def definition(self) -> SagaDefinition:
        def action(name: str) -> Any:
            async def run(call: StepCall) -> dict[str, Any]:
                self.calls.append(f"do:{name}")
                self._next(self.do[name])
                return {"step": name, "seen": sorted(call.results)}

            return run

        def compensation(name: str) -> Any:
            async def run(call: StepCall) -> dict[str, Any]:
                self.calls.append(f"undo:{name}")
                self._next(self.undo[name])
                return {"undone": name}

            return run

        retry = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.002, retry_for=0.3)
        return SagaDefinition(
            "test",
            tuple(StepSpec(n, action(n), compensation(n), 1.0, retry) for n in STEPS),
        )


@pytest.fixture
def script() -> Iterator[Script]:
    yield Script()


async def make_runner(
    path: Path,
    script: Script,
    threshold: int = 3,
    compensation_retry_for: float = 0.3,
    saga_timeout: float = 30,
) -> SagaRunner:
    store = SagaStore(path / "saga.db", "NORMAL")
    await store.open()
    settings = RunnerSettings(
        saga_timeout=saga_timeout,
        compensation_retry=RetryPolicy(threshold, 0.001, 0.002, compensation_retry_for),
        claim_every=0,  # tests call claim() themselves
    )
    return SagaRunner(store, {"test": script.definition()}, settings)


async def run_one(runner: SagaRunner, saga_id: str = "s1", payload: bytes = b"payload") -> Any:
    saga = runner.new_saga("test", saga_id, "cid-1", payload)
    await runner.start(saga)
    return await runner.wait(saga_id, 10)


async def test_success_runs_every_step_in_order(tmp_path: Path, script: Script) -> None:
    runner = await make_runner(tmp_path, script)
    saga = await run_one(runner)
    assert saga.status == SagaStatus.COMPLETED
    assert script.calls == ["do:a", "do:b", "do:c", "do:d"]
    assert [s.state for s in saga.steps] == [StepState.SUCCEEDED] * 4
    # Later steps see earlier results.
    assert saga.step("d").result["seen"] == ["a", "b", "c"]
    events = [e.type for e in await runner.store.events("s1")]
    assert events[0] == "SAGA_STARTED" and events[-1] == "SAGA_COMPLETED"


@pytest.mark.parametrize("failing", range(4))
async def test_business_failure_compensates_earlier_steps_in_reverse(
    tmp_path: Path, script: Script, failing: int
) -> None:
    runner = await make_runner(tmp_path, script)
    script.do[STEPS[failing]] = [refused()]
    saga = await run_one(runner)
    assert saga.status == SagaStatus.COMPENSATED
    assert saga.compensation_order == list(reversed(STEPS[:failing]))
    assert saga.steps[failing].state == StepState.STEP_FAILED
    assert all(s.state == StepState.SKIPPED for s in saga.steps[failing + 1 :])
    assert "scripted refusal" in saga.error


async def test_unknown_outcome_is_retried_then_succeeds(tmp_path: Path, script: Script) -> None:
    runner = await make_runner(tmp_path, script)
    script.do["c"] = [unreachable(), TimeoutError()]
    saga = await run_one(runner)
    assert saga.status == SagaStatus.COMPLETED
    assert saga.step("c").attempts == 3
    assert script.calls.count("do:c") == 3


async def test_spent_retries_compensate_the_uncertain_step_too(
    tmp_path: Path, script: Script
) -> None:
    runner = await make_runner(tmp_path, script)
    script.do["b"] = [errored()] * 3
    saga = await run_one(runner)
    assert saga.status == SagaStatus.COMPENSATED
    assert saga.compensation_order == ["b", "a"]
    assert saga.step("b").attempts == 3
    assert saga.step("b").state == StepState.COMPENSATED_STEP
    assert "failed 3 times" in saga.error


async def test_unreachable_participant_is_retried_past_the_attempt_count_within_the_budget(
    tmp_path: Path, script: Script
) -> None:
    """A short outage (many quick UNAVAILABLE / DEADLINE_EXCEEDED) is ridden out."""
    runner = await make_runner(tmp_path, script)
    script.do["b"] = [unreachable()] * 6 + [TimeoutError()] * 2
    saga = await run_one(runner)
    assert saga.status == SagaStatus.COMPLETED
    assert saga.step("b").attempts == 9


async def test_unreachable_past_the_time_budget_compensates_the_step(
    tmp_path: Path, script: Script
) -> None:
    runner = await make_runner(tmp_path, script)
    script.do["b"] = [unreachable()] * 100_000
    saga = await run_one(runner)
    assert saga.status == SagaStatus.COMPENSATED
    assert saga.compensation_order == ["b", "a"]
    assert saga.step("b").state == StepState.COMPENSATED_STEP
    assert "no answer for" in saga.error


async def test_step_code_error_is_an_unknown_outcome_not_a_step_that_did_not_run(
    tmp_path: Path, script: Script
) -> None:
    """A bug around the call (e.g. a reply that does not parse) may come after the commit."""
    runner = await make_runner(tmp_path, script)
    script.do["c"] = [KeyError("reply field")] * 3
    saga = await run_one(runner)
    assert saga.status == SagaStatus.COMPENSATED
    assert saga.compensation_order == ["c", "b", "a"]


async def test_business_failure_after_unknown_outcome_still_compensates_step(
    tmp_path: Path, script: Script
) -> None:
    runner = await make_runner(tmp_path, script)
    script.do["c"] = [unreachable(), refused()]
    saga = await run_one(runner)
    assert saga.compensation_order == ["c", "b", "a"]


async def test_compensation_retried_until_success(tmp_path: Path, script: Script) -> None:
    runner = await make_runner(tmp_path, script, threshold=3)
    script.do["c"] = [refused()]
    script.undo["b"] = [errored()] * 2
    saga = await run_one(runner)
    assert saga.status == SagaStatus.COMPENSATED
    assert saga.step("b").compensation_attempts == 3


async def test_compensation_past_threshold_fails_and_resume_finishes(
    tmp_path: Path, script: Script
) -> None:
    runner = await make_runner(tmp_path, script, threshold=3)
    script.do["d"] = [refused()]
    script.undo["b"] = [errored()] * 3
    saga = await run_one(runner)
    assert saga.status == SagaStatus.FAILED
    assert saga.compensation_order == ["c"]
    assert saga.step("b").state == StepState.COMPENSATION_FAILED
    assert (await runner.store.stats())["compensations_pending"] == 2  # b and a
    await runner.resume("s1", clear_options=True)
    saga = await runner.wait("s1", 10)
    assert saga is not None and saga.status == SagaStatus.COMPENSATED
    assert saga.compensation_order == ["c", "b", "a"]
    assert saga.error.startswith("d failed: ABORTED")  # why it compensated, not why it got stuck


async def test_restarted_runner_resumes_a_saga_left_executing(
    tmp_path: Path, script: Script
) -> None:
    runner = await make_runner(tmp_path, script)
    saga = runner.new_saga("test", "s2", "cid", b"")
    saga.event_seq = 1
    await runner.store.create(saga, SagaEvent("s2", 1, SagaEventType.SAGA_STARTED, saga.status))
    # As if the process died during step b's Do: a succeeded, b's intent logged.
    saga.steps[0].state, saga.steps[0].result = StepState.SUCCEEDED, {"step": "a"}
    saga.steps[1].state, saga.steps[1].attempts = StepState.EXECUTING, 1
    await runner.store.save(saga, saga.steps[:2], None)
    await runner.store.close()

    fresh = await make_runner(tmp_path, script)
    assert await fresh.recover() == 1
    done = await fresh.wait("s2", 10)
    assert done is not None and done.status == SagaStatus.COMPLETED
    assert script.calls == ["do:b", "do:c", "do:d"]
    assert done.step("b").attempts == 2


async def test_every_call_finds_its_intent_and_every_earlier_outcome_on_disk(
    tmp_path: Path, script: Script
) -> None:
    """Outcomes commit with the next transition: still before the next participant call."""
    path = tmp_path / "saga.db"
    seen: list[tuple[str, list[str]]] = []

    def logged_states() -> list[str]:
        # A separate connection sees committed transactions only.
        with contextlib.closing(sqlite3.connect(path)) as conn:
            rows = conn.execute("SELECT state FROM saga_steps WHERE saga_id='s1' ORDER BY idx")
            return [state for (state,) in rows]

    def checked(what: str, fn: StepFn) -> StepFn:
        async def run(call: StepCall) -> dict[str, Any]:
            seen.append((what, logged_states()))
            return await fn(call)

        return run

    base = script.definition()
    definition = SagaDefinition(
        "test",
        tuple(
            dataclasses.replace(
                s, action=checked(f"do:{s.name}", s.action),
                compensation=checked(f"undo:{s.name}", s.compensation),
            )
            for s in base.steps
        ),
    )  # fmt: skip
    script.do["d"] = [refused()]
    store = SagaStore(path, "FULL")
    await store.open()
    runner = SagaRunner(store, {"test": definition})
    try:
        saga = runner.new_saga("test", "s1", "cid-1", b"payload")
        await runner.start(saga)
        final = await runner.wait("s1", 10)
    finally:
        await store.close()
    assert final is not None and final.status == SagaStatus.COMPENSATED
    # One letter per step state, so each row below reads as a line of the table.
    P, E, S, F = "PENDING", "EXECUTING", "SUCCEEDED", "STEP_FAILED"  # noqa: N806
    C, D = "COMPENSATING_STEP", "COMPENSATED_STEP"  # noqa: N806
    assert seen == [
        ("do:a", [E, P, P, P]),
        ("do:b", [S, E, P, P]),
        ("do:c", [S, S, E, P]),
        ("do:d", [S, S, S, E]),
        ("undo:c", [S, S, C, F]),
        ("undo:b", [S, C, D, F]),
        ("undo:a", [C, D, D, F]),
    ]


async def test_unreachable_compensation_keeps_retrying_past_the_attempt_count(
    tmp_path: Path, script: Script
) -> None:
    """A participant down for a while is not an operator's problem: no FAILED."""
    runner = await make_runner(tmp_path, script, threshold=3)
    script.do["d"] = [refused()]
    script.undo["b"] = [unreachable()] * 12
    saga = await run_one(runner)
    assert saga.status == SagaStatus.COMPENSATED
    assert saga.step("b").compensation_attempts == 13


async def test_compensation_unreachable_past_its_budget_fails_for_an_operator(
    tmp_path: Path, script: Script
) -> None:
    runner = await make_runner(tmp_path, script, threshold=3, compensation_retry_for=0.2)
    script.do["d"] = [refused()]
    script.undo["b"] = [unreachable()] * 100_000
    saga = await run_one(runner)
    assert saga.status == SagaStatus.FAILED
    assert saga.step("b").compensation_attempts > 3
    assert "no answer for" in saga.error and "needs an operator" in saga.error


async def _logged_as_if_killed(
    runner: SagaRunner, saga_id: str, executing: int, deadline_passed: bool
) -> None:
    """A saga as the log holds it after a kill -9: steps before `executing` succeeded, step
    `executing` logged as started (attempt 1, no answer), the rest pending."""
    from datetime import UTC, datetime, timedelta

    saga = runner.new_saga("test", saga_id, "cid", b"")
    if deadline_passed:
        saga.deadline_at = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    saga.event_seq = 1
    await runner.store.create(saga, SagaEvent(saga_id, 1, SagaEventType.SAGA_STARTED, saga.status))
    for st in saga.steps[:executing]:
        st.state, st.attempts, st.result = StepState.SUCCEEDED, 1, {"step": st.name}
    if executing < len(saga.steps):
        st = saga.steps[executing]
        st.state, st.attempts = StepState.EXECUTING, 1
    await runner.store.save(saga, saga.steps, None)


@pytest.mark.parametrize("executing", range(4))
async def test_recovery_past_the_saga_deadline_compensates_the_step_in_flight(
    tmp_path: Path, script: Script, executing: int
) -> None:
    """The chaos campaign's lost compensation: a Do in flight at the kill may have committed;
    a restart after the saga deadline must compensate it, not record it as not run."""
    runner = await make_runner(tmp_path, script)
    await _logged_as_if_killed(runner, "late", executing, deadline_passed=True)
    await runner.store.close()

    fresh = await make_runner(tmp_path, script)
    assert await fresh.recover() == 1
    done = await fresh.wait("late", 10)
    assert done is not None and done.status == SagaStatus.COMPENSATED
    assert done.compensation_order == list(reversed(STEPS[: executing + 1]))
    assert done.step(STEPS[executing]).state == StepState.COMPENSATED_STEP
    assert "saga deadline exceeded" in done.error
    assert not any(c.startswith("do:") for c in script.calls)  # past the deadline: no new Do


async def test_deadline_before_a_step_ever_started_does_not_compensate_it(
    tmp_path: Path, script: Script
) -> None:
    runner = await make_runner(tmp_path, script)
    await _logged_as_if_killed(runner, "late", 2, deadline_passed=True)
    saga = await runner.store.load("late")
    assert saga is not None
    # Step c's outcome came back (succeeded) but d never started.
    saga.steps[2].state, saga.steps[2].result = StepState.SUCCEEDED, {"step": "c"}
    await runner.store.save(saga, saga.steps, None)
    await runner.recover()
    done = await runner.wait("late", 10)
    assert done is not None and done.status == SagaStatus.COMPENSATED
    assert done.step("d").state == StepState.STEP_FAILED
    assert done.compensation_order == ["c", "b", "a"]


async def test_a_logged_saga_nobody_drives_is_adopted(tmp_path: Path, script: Script) -> None:
    runner = await make_runner(tmp_path, script)
    await _logged_as_if_killed(runner, "orphan", 1, deadline_passed=False)
    assert await runner.claim() == 1
    done = await runner.wait("orphan", 10)
    assert done is not None and done.status == SagaStatus.COMPLETED
    assert await runner.claim() == 0  # terminal sagas are left alone


async def test_a_start_whose_caller_is_cancelled_still_drives_the_saga(
    tmp_path: Path, script: Script
) -> None:
    """A caller that hangs up while its saga is being logged must not strand it."""
    import asyncio

    runner = await make_runner(tmp_path, script)
    saga = runner.new_saga("test", "hung-up", "cid", b"")
    caller = asyncio.create_task(runner.start(saga))
    await asyncio.sleep(0)  # the start is under way: its insert is queued on the db thread
    caller.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await caller
    done = await runner.wait("hung-up", 10)
    assert done is not None and done.status == SagaStatus.COMPLETED
    assert script.calls == ["do:a", "do:b", "do:c", "do:d"]


# ---- the bookings log as the runner's sink: complete across kills, no line twice ----------


async def sink_runner(path: Path, script: Script, sink: Any) -> SagaRunner:
    store = SagaStore(path / "saga.db", "NORMAL", outbox=True)
    await store.open()
    settings = RunnerSettings(saga_timeout=30, claim_every=0)
    return SagaRunner(store, {"test": script.definition()}, settings, sink=sink)


def logged_ids(path: Path) -> list[str]:
    import json

    return [json.loads(line)["saga_id"] for line in path.read_text().splitlines()]


async def test_lines_lost_with_a_kill_are_appended_at_the_next_start_once(
    tmp_path: Path, script: Script
) -> None:
    from orchestrator.bookings_log import BookingsLog

    path = tmp_path / "bookings.jsonl"
    log = BookingsLog(path)
    runner = await sink_runner(tmp_path, script, log)
    await runner.recover()
    for i in range(3):
        await run_one(runner, f"kept-{i}", b"")
    await runner.flush_delivered()  # these three are cleared from the outbox

    class Killed:
        """The process dies between the terminal commit and the line: nothing is written."""

        async def append(self, saga: Any) -> None:
            raise RuntimeError("killed")

        def checkpoint(self, cleared: Any) -> str:
            return log.checkpoint(cleared)

    runner.outbox.sink = Killed()  # type: ignore[assignment]
    await run_one(runner, "lost", b"")
    runner.outbox.sink = log
    await run_one(runner, "written-not-cleared", b"")  # its line is in, the outbox still has it
    log.close()
    with path.open("ab") as f:
        f.write(b'{"saga_id": "torn-by-the-ki')  # a write cut off by the kill
    await runner.store.close()

    fresh_log = BookingsLog(path)
    fresh = await sink_runner(tmp_path, script, fresh_log)
    await fresh.recover()
    fresh_log.close()
    ids = logged_ids(path)
    assert sorted(ids) == sorted(["kept-0", "kept-1", "kept-2", "lost", "written-not-cleared"])
    assert (await fresh.store.undelivered())[0] == []
    await fresh.store.close()


async def test_a_clean_restart_appends_nothing(tmp_path: Path, script: Script) -> None:
    from orchestrator.bookings_log import BookingsLog

    path = tmp_path / "bookings.jsonl"
    log = BookingsLog(path)
    runner = await sink_runner(tmp_path, script, log)
    await runner.recover()
    await run_one(runner, "one", b"")
    await runner.stop(1)
    log.close()
    await runner.store.close()
    again_log = BookingsLog(path)
    again = await sink_runner(tmp_path, script, again_log)
    await again.recover()
    await run_one(again, "two", b"")
    again_log.close()
    assert logged_ids(path) == ["one", "two"]
    await again.store.close()


async def test_saga_deadline_reached_while_retrying_compensates_the_step_too(
    tmp_path: Path, script: Script
) -> None:
    """The step budget is long, the saga deadline short: the deadline wins, and the step that
    was being retried (it may have run) is compensated with the ones before it."""
    runner = await make_runner(tmp_path, script, saga_timeout=0.3)
    spec = runner.definitions["test"]
    runner.definitions["test"] = dataclasses.replace(
        spec,
        steps=tuple(
            dataclasses.replace(s, retry=dataclasses.replace(s.retry, retry_for=60))
            for s in spec.steps
        ),
    )
    script.do["c"] = [unreachable()] * 100_000
    saga = await run_one(runner)
    assert saga.status == SagaStatus.COMPENSATED
    assert saga.compensation_order == ["c", "b", "a"]
    assert saga.step("d").state == StepState.SKIPPED


async def test_a_failed_saga_resumed_later_gets_one_line_with_its_end(
    tmp_path: Path, script: Script
) -> None:
    """FAILED waits for an operator, it is not the end: one line per saga, when it finishes."""
    from orchestrator.bookings_log import BookingsLog

    path = tmp_path / "bookings.jsonl"
    log = BookingsLog(path)
    store = SagaStore(tmp_path / "saga.db", "NORMAL", outbox=True)
    await store.open()
    settings = RunnerSettings(
        saga_timeout=30,
        compensation_retry=RetryPolicy(2, 0.001, 0.002, 0.3),
        claim_every=0,
    )
    runner = SagaRunner(store, {"test": script.definition()}, settings, sink=log)
    script.do["c"] = [refused()]
    script.undo["b"] = [errored()] * 2
    saga = await run_one(runner, "resumed", b"")
    assert saga.status == SagaStatus.FAILED
    assert not path.exists() or logged_ids(path) == []
    await runner.resume("resumed", clear_options=False)
    done = await runner.wait("resumed", 10)
    assert done is not None and done.status == SagaStatus.COMPENSATED, (script.calls, done.error)
    log.close()
    assert logged_ids(path) == ["resumed"]
    await store.close()


async def test_watching_a_saga_that_ended_while_its_driver_was_finishing_ends(
    tmp_path: Path, script: Script
) -> None:
    """Seen in the compose tier: `flightsaga book` watched a saga that had just ended while
    its driver was still winding down; the stream then waited forever instead of ending."""
    import asyncio

    runner = await make_runner(tmp_path, script)
    saga = await run_one(runner)
    assert saga.status == SagaStatus.COMPLETED
    # Its driver, as if still finishing when the watcher reads the log.
    finishing = asyncio.create_task(asyncio.sleep(0.3))
    runner.drivers.tasks[saga.saga_id] = finishing  # the race, made certain
    finishing.add_done_callback(lambda _: runner.drivers.tasks.pop(saga.saga_id, None))

    async def watch() -> list[str]:
        return [e.type async for e in runner.follow(saga.saga_id)]

    types = await asyncio.wait_for(watch(), timeout=5)
    assert types[0] == "SAGA_STARTED" and types[-1] == "SAGA_COMPLETED"


async def test_recovery_drives_a_few_at_a_time_and_never_takes_a_saga_started_meanwhile(
    tmp_path: Path,
) -> None:
    """40 sagas left live by a crash, recovered in the background with room for 5 at a time:
    never more than 5 driven at once, all completed; a saga started while recovery runs keeps
    its own driver and lease (recovery does not claim it from under it)."""
    import asyncio

    running = peak = 0

    async def slow(call: StepCall) -> dict[str, Any]:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1
        return {"saga": call.saga_id}

    retry = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.002, retry_for=0.3)
    definition = SagaDefinition("test", (StepSpec("a", slow, slow, 1.0, retry),))
    store = SagaStore(tmp_path / "saga.db", "NORMAL")
    await store.open()
    settings = RunnerSettings(claim_every=0, max_driving=5, claim_batch=3)
    crashed = SagaRunner(store, {"test": definition}, settings)
    for i in range(40):
        saga = crashed.new_saga("test", f"left-{i}", "cid", b"")
        saga.event_seq = 1
        await store.create(
            saga,
            SagaEvent(saga.saga_id, 1, SagaEventType.SAGA_STARTED, saga.status),
            lease=("x", 2e9),
        )
    await store.close()

    store = SagaStore(tmp_path / "saga.db", "NORMAL")
    await store.open()
    runner = SagaRunner(store, {"test": definition}, settings)
    assert await runner.reopen() == 40  # the leases the crashed process held, ended
    runner.recover_in_background()
    started = runner.new_saga("test", "meanwhile", "cid", b"")
    await runner.start(started)
    done = await runner.wait("meanwhile", 10)
    assert done is not None and done.status == SagaStatus.COMPLETED
    assert done.lease_epoch == 1  # claimed once, by its own start
    for i in range(40):
        left = await runner.wait(f"left-{i}", 10)
        assert left is not None and left.status == SagaStatus.COMPLETED, left
    assert peak <= 5 + 1  # five recovered at a time, plus the one started meanwhile
    await runner.stop(1)
    await store.close()


def test_a_timestamp_is_the_moment_in_isoformat_with_microseconds() -> None:
    before = datetime.now(UTC)
    stamp = now()
    after = datetime.now(UTC)
    assert before <= datetime.fromisoformat(stamp) <= after
    assert stamp == datetime.fromisoformat(stamp).isoformat(timespec="microseconds")
