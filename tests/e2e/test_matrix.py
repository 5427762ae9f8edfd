"""`flightsaga matrix` as a user runs it: it starts a local stack of its own, runs every fault
kind against every step, and writes saga_test_report.json and its HTML table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from testkit.matrix.columns import COLUMNS
from tests.e2e.tools import FLIGHTSAGA, STEPS, run

pytestmark = pytest.mark.e2e

SEED_FIELDS = {"generated_at", "orchestrator", "passed", "total", "scenarios"}
SEED_SCENARIO_FIELDS = {
    "name",
    "fail_at",
    "expected_status",
    "status",
    "expected_compensations",
    "compensations",
    "booking_reference",
    "correlation_id",
    "saga_id",
    "seconds",
    "passed",
}


def test_every_cell_of_the_matrix_passes_on_a_local_stack(tmp_path: Path) -> None:
    out = tmp_path / "matrix"
    result = run([FLIGHTSAGA, "matrix", "--out", str(out)], timeout=240, cwd=tmp_path)
    assert result.code == 0, result
    cells = len(STEPS) * len(COLUMNS)
    assert f"{cells} of {cells} cells passed" in result.out, result

    doc = json.loads((out / "saga_test_report.json").read_text())
    assert SEED_FIELDS <= doc.keys()
    assert (doc["passed"], doc["total"], doc["ok"], doc["violations"]) == (cells, cells, True, [])
    assert doc["matrix"] == {s: {c.name: "pass" for c in COLUMNS} for s in STEPS}
    for s in doc["scenarios"]:
        assert SEED_SCENARIO_FIELDS <= s.keys()
        assert s["saga_id"] and s["status"] == s["expected_status"], s
    resumed = [s for s in doc["scenarios"] if s["column"].endswith("+resume")]
    assert [st["status"] for st in resumed[0]["stops"]] == ["FAILED", "COMPENSATED"]
    cancelled = [s["stops"][0] for s in doc["scenarios"] if s["column"] == "cancel"]
    assert len(cancelled) == len(STEPS)
    assert all(st["status"] == "COMPENSATED" and st["cancelled_by"] for st in cancelled)
    assert [len(st["compensations"]) for st in cancelled] == [1, 2, 3, 4]

    page = (out / "saga_test_report.html").read_text()
    first = doc["scenarios"][0]
    assert f'href="http://127.0.0.1:8080/test?saga={first["saga_id"]}"' in page
    assert page.count('<tr><th scope="row">') == len(STEPS)


def test_bad_options_exit_2_naming_the_option(tmp_path: Path) -> None:
    result = run([FLIGHTSAGA, "matrix", "--faults", "explode"], cwd=tmp_path)
    assert result.code == 2, result
    assert "--faults" in result.err and "compensate-fail=2" in result.err, result
