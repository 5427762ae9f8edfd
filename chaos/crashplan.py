"""The crash points of a saga, from the durable writes a recorded run of it made (pure data).

A point is "kill -9 right after write K" (K from 1: what K made durable survives) or "right
before write K" for a write that carries an outcome (the participant answered; the answer is
lost). Both follow from the recorded writes alone, so the list is the same every run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

# Events that record a participant's answer: a kill before their write loses the answer.
OUTCOMES = ("STEP_SUCCEEDED", "STEP_FAILED_EVENT", "COMPENSATION_SUCCEEDED")


@dataclass(frozen=True)
class DurableWrite:
    """One commit of a saga's transitions, as the recorded run made it."""

    nth: int  # from 1
    events: tuple[str, ...]  # "TYPE step" of each event it logs, in order

    @property
    def has_outcome(self) -> bool:
        return any(e.split()[0] in OUTCOMES for e in self.events)


@dataclass(frozen=True)
class CrashPoint:
    saga: str  # which of the matrix's sagas ("completed", "compensated")
    when: str  # "after" or "before"
    write: DurableWrite
    durable: int  # how many of the saga's events are in the log at the kill

    @property
    def id(self) -> str:
        return f"{self.saga}/{self.when}-{self.write.nth}"

    @property
    def plan(self) -> str:
        """What sagakit.testhooks' durable-write point is armed with."""
        return f"kill {self.when} {self.write.nth}"

    @property
    def what(self) -> str:
        """What the log holds at the kill, in words."""
        logged = " + ".join(self.write.events)
        if self.when == "after":
            return f"logged: {logged}"
        return f"answered, not logged: {logged}"


def read_record(path: Path, saga_id: str) -> list[DurableWrite]:
    """The saga's writes from the hooks' `durable-write.log` (a record run)."""
    writes = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["saga_id"] == saga_id:
            writes.append(DurableWrite(int(row["write"]), tuple(row["events"])))
    if [w.nth for w in writes] != list(range(1, len(writes) + 1)):
        raise ValueError(f"{path}: saga {saga_id}'s writes are not 1..N: {writes}")
    return writes


def points(saga: str, writes: list[DurableWrite]) -> list[CrashPoint]:
    """Every crash point of one saga, in log order: before a write with an outcome (but not
    the first write: before it nothing exists), then after each write."""
    out = []
    durable = 0
    for w in writes:
        if w.has_outcome and w.nth > 1:
            out.append(CrashPoint(saga, "before", w, durable))
        durable += len(w.events)
        out.append(CrashPoint(saga, "after", w, durable))
    return out
