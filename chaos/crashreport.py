"""What recovery did after each crash point, in words, and the matrix's report (JSON + table).

Recovery is read, not guessed: the saga's events logged after the kill (from the orchestrator)
and each participant's own log lines for the saga written after the kill (its barrier says
whether a repeated call committed or was a replay). Nothing in a point's entry depends on
timing or on generated ids, so the points are the same every run.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos.crashplan import CrashPoint, DurableWrite

# A participant's line for one call, console format: through its barrier (sagakit.participant)
# or refused by an injected fault before it (sagakit.participant_faults).
_CALL = re.compile(
    r"saga=(?P<saga>\S+) .*?\[(?:SAGA STEP|COMPENSATION)\] (?P<step>\S+) "
    r"(?P<op>Do|Compensate) (?P<how>.+)$"
)
_FAULT = re.compile(
    r"saga=(?P<saga>\S+) .*?\[FAULT\] (?P<how>injected business failure) at (?P<step>\S+) "
    r"(?P<op>do|compensate)$"
)
_CALLS = {"STEP_STARTED": "Do", "COMPENSATION_STARTED": "Compensate"}
_ENDS = {"SAGA_COMPLETED", "SAGA_COMPENSATED", "SAGA_FAILED"}
RECONCILED = "missing from the bookings log after a stop; appended"


@dataclass(frozen=True)
class LoggedEvent:
    type: str
    step: str
    attempt: int


def answers(lines: Iterable[str], saga_id: str) -> dict[tuple[str, str], deque[str]]:
    """The participants' answers to the saga's calls, in order, by (step, Do|Compensate)."""
    out: defaultdict[tuple[str, str], deque[str]] = defaultdict(deque)
    for line in lines:
        m = _CALL.search(line) or _FAULT.search(line)
        if m and m["saga"] == saga_id:
            out[(m["step"], m["op"].capitalize())].append(m["how"].strip())
    return out


def recovery(
    after: list[LoggedEvent], said: dict[tuple[str, str], deque[str]], reconciled: bool
) -> list[str]:
    """What the restarted orchestrator did, one line per call or ending."""
    out = ["bookings log: the finished saga appended at start"] if reconciled else []
    if not after:
        out.append("nothing left to drive")
    for e in after:
        if e.type in _CALLS:
            op = _CALLS[e.type]
            queue = said.get((e.step, op))
            answer = queue.popleft() if queue else "(no answer in its log)"
            out.append(f"{op} {e.step} #{e.attempt}: {answer}")
        elif e.type == "STEP_FAILED_EVENT":
            out.append(f"{e.step} failed: compensate")
        elif e.type in _ENDS:
            out.append(e.type.removeprefix("SAGA_"))
        elif e.type.endswith("RETRYING"):
            out.append(f"{e.type} {e.step} #{e.attempt}")
    return out


@dataclass
class PointResult:
    point: CrashPoint
    exit_code: int = 0
    recovery: list[str] = field(default_factory=list)
    final: str = ""
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def to_json(self) -> dict[str, Any]:
        p = self.point
        return {
            "id": p.id,
            "saga": p.saga,
            "when": p.when,
            "write": p.write.nth,
            "events": list(p.write.events),
            "log_at_kill": p.what,
            "durable_events": p.durable,
            "crash": "SIGKILL" if self.exit_code == -9 else f"exit code {self.exit_code}",
            "recovery": self.recovery,
            "final": self.final,
            "violations": self.violations,
            "ok": self.ok,
        }


def build(
    backend: str,
    writes: dict[str, list[DurableWrite]],
    results: list[PointResult],
    seconds: float,
) -> dict[str, Any]:
    """The report: everything but `timing` is the same every run."""
    return {
        "backend": backend,
        "sagas": {
            name: [{"write": w.nth, "events": list(w.events)} for w in ws]
            for name, ws in writes.items()
        },
        "points": [r.to_json() for r in results],
        "crash_points": len(results),
        "recovered": sum(r.ok for r in results),
        "timing": {"seconds": round(seconds, 1)},
    }


def text(doc: dict[str, Any]) -> str:
    rows = [
        f"crash-point matrix on {doc['backend']}: {doc['recovered']}/{doc['crash_points']} "
        f"points recovered with every invariant holding ({doc['timing']['seconds']:.0f}s)",
        "",
        f"{'point':<22}{'end':<13}{'invariants':<12}the log at the kill; then what recovery did",
    ]
    for p in doc["points"]:
        verdict = "hold" if p["ok"] else "VIOLATED"
        rows.append(f"{p['id']:<22}{p['final']:<13}{verdict:<12}{p['log_at_kill']}")
        rows += [f"{'':<47}{line}" for line in (*p["violations"], *p["recovery"])]
    return "\n".join(rows)


def write(doc: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
