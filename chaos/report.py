"""The campaign's findings: a JSON document (the report) and its human summary."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from chaos import plan
from chaos.invariants import Evidence, Violation
from chaos.stack import ProcessEvent
from sagas.peers import Addrs

MAX_LISTED = 50  # violations printed in full; the JSON report has all of them


def _phase_of(ev: Evidence) -> dict[str, int]:
    """saga id -> index of the phase whose client started it."""
    out: dict[str, int] = {}
    for sid, s in ev.sagas.items():
        spec = ev.specs.get(s.key)
        if spec is not None:
            out[sid] = spec.phase
    return out


def _phase(
    r: Any,
    ev: Evidence,
    phase_of: dict[str, int],
    events: list[ProcessEvent],
    live_before_resume: dict[str, str],
    by_saga_phase: dict[str, int],
) -> dict[str, Any]:
    """One phase's lines of the report: its sagas, calls, kills and what they came to."""
    p: plan.Phase = r.phase
    sagas = [sid for sid, i in phase_of.items() if i == p.index]
    specs = {sid: ev.specs[ev.sagas[sid].key] for sid in sagas}
    calls = [c for c in ev.calls if c.phase == p.index]
    outcomes = Counter(ev.sagas[sid].status for sid in sagas)
    kills = [e for e in events if e.phase == p.label and e.action == "kill -9"]
    failed = [sid for sid in sagas if live_before_resume.get(sid) == "FAILED"]
    stuck = [sid for sid in sagas if live_before_resume.get(sid) in ("RUNNING", "COMPENSATING")]
    return {
        "index": p.index,
        "name": p.name,
        "kind": p.kind,
        "target": p.target,
        "outage_s": p.outage_s,
        "seconds": r.seconds,
        "bookings": r.started,
        "calls": len(calls),
        "call_errors": dict(Counter(c.code for c in calls if c.code != "OK")),
        "sagas": len(sagas),
        "outcomes": dict(sorted(outcomes.items())),
        "kills": [{"service": e.service, "pid": e.pid, "at_s": e.at_s} for e in kills],
        "failed": len(failed),
        "failed_planned": sum(1 for sid in failed if specs[sid].expect == plan.FAILED),
        "stuck": len(stuck),
        "compensated_without_fault": sum(
            1 for sid in sagas if ev.sagas[sid].status == "COMPENSATED" and not specs[sid].injected
        ),
        "violations": sum(1 for i in by_saga_phase.values() if i == p.index),
    }


def build(
    the_plan: plan.Plan,
    runs: list[Any],
    ev: Evidence,
    violations: list[Violation],
    live_before_resume: dict[str, str],
    events: list[ProcessEvent],
    *,
    run_id: str,
    addrs: Addrs,
    code_dir: Path | None,
    data_dir: Path | None,
    env: dict[str, str],
    seconds: float,
    concurrency: int,
) -> dict[str, Any]:
    phase_of = _phase_of(ev)
    by_saga_phase = {v.subject: phase_of[v.subject] for v in violations if v.subject in phase_of}
    phases = [_phase(r, ev, phase_of, events, live_before_resume, by_saga_phase) for r in runs]
    return {
        "run_id": run_id,
        "seed": the_plan.settings.seed,
        "settings": _settings(the_plan, concurrency),
        "stack": {
            "local": data_dir is not None,
            "addrs": addrs.as_dict(),
            "code_dir": str(code_dir) if code_dir else None,
            "data_dir": str(data_dir) if data_dir else None,
            "env": env,
        },
        "skipped": list(the_plan.skipped),
        "seconds": round(seconds, 1),
        "totals": _totals(runs, ev, violations, live_before_resume, events, phases),
        "phases": phases,
        "process_events": [e.to_json() for e in events],
        "resumed": live_before_resume,
        "violations": [v.to_json() for v in violations],
        "violations_by_check": dict(Counter(v.check for v in violations)),
    }


def _settings(the_plan: plan.Plan, concurrency: int) -> dict[str, Any]:
    settings = the_plan.settings
    return {
        "sagas": settings.sagas,
        "duration_s": settings.duration,
        "kills": settings.kills,
        "step_timeout_s": settings.step_timeout_s,
        "saga_timeout_s": settings.saga_timeout_s,
        "concurrency": concurrency,
    }


def _totals(
    runs: list[Any],
    ev: Evidence,
    violations: list[Violation],
    live_before_resume: dict[str, str],
    events: list[ProcessEvent],
    phases: list[dict[str, Any]],
) -> dict[str, Any]:
    statuses = Counter(s.status for sid, s in ev.sagas.items() if sid not in ev.preexisting)
    return {
        "bookings": sum(r.started for r in runs),
        "calls": len(ev.calls),
        "sagas": sum(statuses.values()),
        "outcomes": dict(sorted(statuses.items())),
        "kills": sum(1 for e in events if e.action == "kill -9"),
        "failed_before_resume": sum(1 for v in live_before_resume.values() if v == "FAILED"),
        "stuck_before_resume": sum(1 for v in live_before_resume.values() if v != "FAILED"),
        "compensated_without_fault": sum(p["compensated_without_fault"] for p in phases),
        "violations": len(violations),
    }


def text(doc: dict[str, Any]) -> str:
    t = doc["totals"]
    lines = [
        f"chaos campaign {doc['run_id']} (seed {doc['seed']}): {t['sagas']} sagas, "
        f"{t['calls']} calls, {t['kills']} kill -9, {doc['seconds']:.0f}s",
        "",
        f"{'phase':<28}{'sagas':>6}{'kills':>6}  {'outcomes':<34}{'FAILED':>7}{'stuck':>6}"
        f"{'comp.nofault':>13}{'viol.':>6}",
    ]
    for p in doc["phases"]:
        outcomes = " ".join(f"{k[:5].lower()}={v}" for k, v in p["outcomes"].items())
        failed = f"{p['failed']}({p['failed_planned']}p)" if p["failed"] else "0"
        lines.append(
            f"{p['name']:<28}{p['sagas']:>6}{len(p['kills']):>6}  {outcomes:<34}{failed:>7}"
            f"{p['stuck']:>6}{p['compensated_without_fault']:>13}{p['violations']:>6}"
        )
    lines += [
        "",
        "FAILED: sagas an operator had to resume (p: planned by compensate-fail=always); "
        "stuck: still RUNNING/COMPENSATING when everything else was quiet; comp.nofault: "
        "COMPENSATED though nothing injected made them fail (the disruption did).",
        f"outcomes: {t['outcomes']}; resumed {t['failed_before_resume']} FAILED and "
        f"{t['stuck_before_resume']} stuck sagas",
    ]
    for why in doc["skipped"]:
        lines.append(f"SKIPPED {why}")
    violations = doc["violations"]
    if not violations:
        lines.append("invariants: all hold (0 violations)")
    else:
        lines.append(f"invariants: {len(violations)} VIOLATIONS {doc['violations_by_check']}")
        for v in violations[:MAX_LISTED]:
            lines.append(
                f"  VIOLATION {v['check']}: {v['subject']}: expected {v['expected']}; "
                f"found {v['found']}"
            )
        if len(violations) > MAX_LISTED:
            lines.append(f"  ... and {len(violations) - MAX_LISTED} more in the JSON report")
    return "\n".join(lines)


def write(doc: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n", encoding="utf-8")
