"""saga_test_report.json (the seed's report, one scenario per cell, extended) and its page.

The JSON keeps the seed's fields (generated_at, orchestrator, passed, total, scenarios with
name, fail_at, expected_status, status, expected_compensations, compensations,
booking_reference, correlation_id, saga_id, seconds) and adds the matrix's own.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chaos.invariants import Violation
from testkit.matrix.cells import Cell, Stop, saga_link
from testkit.matrix.columns import Column

JSON_NAME = "saga_test_report.json"
HTML_NAME = "saga_test_report.html"


def _stop(s: Stop, steps: Sequence[str]) -> dict[str, Any]:
    return {
        "label": s.label,
        "expected_status": s.expected.status,
        "status": s.status,
        "expected_cancelled": s.expected.cancelled,
        "cancelled_by": s.cancelled_by,
        "expected_compensations": list(s.expected.compensations),
        "compensations": s.compensations,
        "expected_effects": {
            step: sorted(e.value for e in allowed)
            for step, allowed in zip(steps, s.expected.effects, strict=True)
        },
        "effects": s.effects,
        "problems": s.problems,
    }


def scenario(cell: Cell, steps: Sequence[str], dashboard: str) -> dict[str, Any]:
    """One cell, with the seed's scenario fields first (their values from its last stop)."""
    sc = cell.scenario
    last = cell.stops[-1] if cell.stops else None
    due = (sc.then.expect if sc.then else sc.expect) if sc else None
    return {
        "name": f"{cell.column} at {cell.step}",
        "fail_at": sc.fail_at if sc else "",
        "expected_status": due.status if due else "",
        "status": last.status if last else "",
        "expected_compensations": list(due.compensations) if due else [],
        "compensations": last.compensations if last else [],
        "booking_reference": cell.booking_reference,
        "correlation_id": cell.correlation_id,
        "saga_id": cell.saga_id,
        "seconds": cell.seconds,
        "passed": cell.passed,
        "step": cell.step,
        "column": cell.column,
        "fault": sc.fault if sc else "",
        "not_applicable": cell.not_applicable,
        "idempotency_key": cell.key,
        "flight_id": cell.flight_id,
        "dashboard_url": saga_link(dashboard, cell.saga_id) if cell.saga_id else "",
        "stops": [_stop(s, steps) for s in cell.stops],
        "problems": cell.problems,
    }


def verdict(cell: Cell) -> str:
    if cell.scenario is None:
        return "n/a"
    return "pass" if cell.passed else "fail"


def build(
    cells: Sequence[Cell],
    steps: Sequence[str],
    columns: Sequence[Column],
    violations: Sequence[Violation],
    *,
    orchestrator: str,
    dashboard: str,
    stack: str,
    env: dict[str, str],
    seconds: float,
) -> dict[str, Any]:
    applicable = [c for c in cells if c.scenario is not None]
    rows = list(dict.fromkeys(c.step for c in cells))  # the steps run, in saga order
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "orchestrator": orchestrator,
        "passed": sum(c.passed for c in applicable),
        "total": len(applicable),
        "scenarios": [scenario(c, steps, dashboard) for c in cells],
        "kind": "scenario-matrix",
        "ok": all(c.passed for c in applicable) and not violations,
        "stack": stack,
        "stack_env": env,
        "dashboard": dashboard,
        "seconds": round(seconds, 2),
        "steps": rows,
        "columns": [{"name": c.name, "title": c.title} for c in columns],
        "matrix": {s: {c.column: verdict(c) for c in cells if c.step == s} for s in rows},
        "not_applicable": len(cells) - len(applicable),
        "violations": [v.to_json() for v in violations],
    }


def text(doc: dict[str, Any]) -> str:
    """The table for a terminal, and the verdict."""
    cols = [c["name"] for c in doc["columns"]]
    width = max(len(s) for s in doc["steps"]) + 2
    lines = ["".ljust(width) + " ".join(f"{c:<{max(len(c), 5)}}" for c in cols)]
    for step, row in doc["matrix"].items():
        cells = " ".join(f"{row.get(c, '-').upper():<{max(len(c), 5)}}" for c in cols)
        lines.append(f"{step:<{width}}{cells}")
    for s in doc["scenarios"]:
        for problem in s["problems"] + [p for stop in s["stops"] for p in stop["problems"]]:
            lines.append(f"FAIL {s['name']} (saga {s['saga_id'] or '-'}): {problem}")
    for v in doc["violations"]:
        lines.append(
            f"VIOLATION {v['check']}: {v['subject']}: expected {v['expected']}; found {v['found']}"
        )
    lines.append(
        f"{doc['passed']} of {doc['total']} cells passed"
        + (f", {doc['not_applicable']} not applicable" if doc["not_applicable"] else "")
        + f", {len(doc['violations'])} invariant violations, {doc['seconds']}s"
    )
    return "\n".join(lines)


def write(doc: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out_dir / JSON_NAME, out_dir / HTML_NAME
    json_path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    html_path.write_text(page(doc), encoding="utf-8")
    return json_path, html_path


def _td(s: dict[str, Any]) -> str:
    verdict_ = "n/a" if s["not_applicable"] else "pass" if s["passed"] else "fail"
    tip = (
        s["not_applicable"]
        or "; ".join(s["problems"] + [p for stop in s["stops"] for p in stop["problems"]])
        or f"{s['status']}: {s['fault'] or s['fail_at']}"
    )
    label = html.escape(verdict_.upper())
    body = (
        f'<a href="{html.escape(s["dashboard_url"])}">{label}</a>' if s["dashboard_url"] else label
    )
    testid = f"cell-{s['step']}-{s['column']}"
    return (
        f'<td class="{verdict_.replace("/", "")}" data-testid="{html.escape(testid)}" '
        f'title="{html.escape(tip)}">{body}</td>'
    )


STYLE = """body{font-family:system-ui,sans-serif;margin:2rem}table{border-collapse:collapse}
th,td{border:1px solid #999;padding:.4rem .7rem;text-align:center}th[scope=row]{text-align:left}
td.pass{background:#d6f5d6}td.fail{background:#f9d0d0}td.na{background:#eee;color:#666}
.mono{font-family:monospace}"""


def page(doc: dict[str, Any]) -> str:
    """One row per step, one column per fault; each cell links to its saga on the dashboard."""
    by_cell = {(s["step"], s["column"]): s for s in doc["scenarios"]}
    head = "".join(
        f'<th scope="col" title="{html.escape(c["title"])}">{html.escape(c["name"])}</th>'
        for c in doc["columns"]
    )
    rows = "".join(
        f'<tr><th scope="row">{html.escape(step)}</th>'
        + "".join(_td(by_cell[(step, c["name"])]) for c in doc["columns"])
        + "</tr>"
        for step in doc["steps"]
    )
    problems = "".join(
        f"<li>{html.escape(s['name'])}: {html.escape(p)}</li>"
        for s in doc["scenarios"]
        for p in s["problems"] + [p for stop in s["stops"] for p in stop["problems"]]
    ) + "".join(
        f"<li>{html.escape(v['check'])}: {html.escape(v['subject'])}: expected "
        f"{html.escape(v['expected'])}; found {html.escape(v['found'])}</li>"
        for v in doc["violations"]
    )
    summary = (
        f"{doc['passed']} of {doc['total']} cells passed; {len(doc['violations'])} invariant "
        f"violations; {doc['seconds']} s against {html.escape(doc['orchestrator'])} "
        f"({html.escape(doc['stack'])}), {html.escape(doc['generated_at'])}"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>FlightSaga scenario matrix</title>
<style>{STYLE}</style></head><body>
<h1>Scenario matrix</h1>
<p data-testid="summary">{summary}</p>
<table data-testid="matrix"><thead><tr><th scope="col">step</th>{head}</tr></thead>
<tbody>{rows}</tbody></table>
<h2>Problems</h2><ul data-testid="problems">{problems or "<li>none</li>"}</ul>
<p>Each cell links to its saga on the dashboard ({html.escape(doc["dashboard"])}); the JSON
report beside this page has every cell's expected and found status, compensations and effects.</p>
</body></html>
"""
