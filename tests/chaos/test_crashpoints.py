"""The crash-point matrix (`flightsaga crashpoints`) on SQLite and on PostgreSQL.

The command starts a local stack, kills its orchestrator with SIGKILL right before or after
every durable write of a saga that completes and of one that compensates, restarts it, and
checks each saga against the participants' own records. Here every point must recover with
every invariant holding, the points must be exactly these, and what recovery did at each one
must be exactly this: the same on both backends, every run. And on a tree whose barrier
acts again on a repeated Do, every point where recovery repeats an answered Do must fail.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support import postgres as pg
from tests.support.walkthrough import copy_tree

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.chaos

SEAT, LOYALTY, PAYMENT, BOOKING = (
    "reserve_seat",
    "deduct_loyalty_points",
    "process_payment",
    "confirm_booking",
)
REPLAY, COMMIT = "replayed (barrier)", "committed"
REFUSED = "injected business failure"
APPENDED = ["bookings log: the finished saga appended at start", "nothing left to drive"]


def _forward(first: str, how: str, attempt: int = 2) -> list[str]:
    """The Do calls from `first` (its attempt `attempt`, answered `how`) to the end."""
    steps = [SEAT, LOYALTY, PAYMENT, BOOKING]
    rest = steps[steps.index(first) + 1 :]
    return [f"Do {first} #{attempt}: {how}", *(f"Do {s} #1: {COMMIT}" for s in rest)]


def _compensating(first: str, how: str, attempt: int = 2) -> list[str]:
    """From `first`'s Do (attempt `attempt`) through the refused payment to COMPENSATED."""
    steps = [SEAT, LOYALTY, PAYMENT]
    rest = steps[steps.index(first) + 1 :]
    calls = [f"Do {first} #{attempt}: {how}", *(f"Do {s} #1: {COMMIT}" for s in rest)]
    calls[-1] = calls[-1].replace(COMMIT, REFUSED)
    return [*calls, f"{PAYMENT} failed: compensate", *_undo(LOYALTY, COMMIT, 1)]


def _undo(first: str, how: str, attempt: int) -> list[str]:
    rest = [SEAT] if first == LOYALTY else []
    return [
        f"Compensate {first} #{attempt}: {how}",
        *(f"Compensate {s} #1: {COMMIT}" for s in rest),
        "COMPENSATED",
    ]


# Every point, in order, and what recovery must do there.
EXPECTED: dict[str, list[str]] = {
    "completed/after-1": [*_forward(SEAT, COMMIT), "COMPLETED"],
    "completed/before-2": [*_forward(SEAT, REPLAY), "COMPLETED"],
    "completed/after-2": [*_forward(LOYALTY, COMMIT), "COMPLETED"],
    "completed/before-3": [*_forward(LOYALTY, REPLAY), "COMPLETED"],
    "completed/after-3": [*_forward(PAYMENT, COMMIT), "COMPLETED"],
    "completed/before-4": [*_forward(PAYMENT, REPLAY), "COMPLETED"],
    "completed/after-4": [*_forward(BOOKING, COMMIT), "COMPLETED"],
    "completed/before-5": [*_forward(BOOKING, REPLAY), "COMPLETED"],
    "completed/after-5": APPENDED,
    "compensated/after-1": _compensating(SEAT, COMMIT),
    "compensated/before-2": _compensating(SEAT, REPLAY),
    "compensated/after-2": _compensating(LOYALTY, COMMIT),
    "compensated/before-3": _compensating(LOYALTY, REPLAY),
    "compensated/after-3": _compensating(PAYMENT, REFUSED),
    "compensated/before-4": _compensating(PAYMENT, REFUSED),
    "compensated/after-4": _undo(LOYALTY, COMMIT, 1),
    "compensated/after-5": _undo(LOYALTY, COMMIT, 2),
    "compensated/before-6": _undo(LOYALTY, REPLAY, 2),
    "compensated/after-6": _undo(SEAT, COMMIT, 2),
    "compensated/before-7": _undo(SEAT, REPLAY, 2),
    "compensated/after-7": APPENDED,
}


def _run_matrix(tmp_path: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    report = tmp_path / "crashpoints.json"
    data = tmp_path / "data"
    command = ["crashpoints", "--data-dir", str(data), "--report", str(report), *args]
    done = subprocess.run(
        [sys.executable, "-m", "cli", *command],
        capture_output=True,
        text=True,
        timeout=600,
    )
    doc = json.loads(report.read_text()) if report.exists() else {}
    return done.returncode, doc, done.stdout + done.stderr


@pytest.mark.parametrize("database_backend", pg.BACKENDS)
def test_every_crash_point_recovers_with_every_invariant_holding(
    tmp_path: Path, database_backend: str, request: pytest.FixtureRequest
) -> None:
    args: list[str] = []
    if database_backend == "postgres":
        cluster: pg.PgCluster = request.getfixturevalue("pg_cluster")
        args = ["--database", cluster.url_for("crashpoints")]
    code, doc, output = _run_matrix(tmp_path, *args)
    assert code == 0, output
    assert doc["backend"] == ("postgresql" if args else "sqlite")
    assert [p["id"] for p in doc["points"]] == list(EXPECTED)
    for p in doc["points"]:
        assert (p["id"], p["crash"], p["violations"]) == (p["id"], "SIGKILL", [])
        assert (p["id"], p["recovery"]) == (p["id"], EXPECTED[p["id"]])
        assert p["final"] == p["saga"].upper()
    assert len(doc["sagas"]["completed"]) == 5 and len(doc["sagas"]["compensated"]) == 7
    assert "21/21 points recovered with every invariant holding" in output


def _tampered_tree(dest: Path) -> Path:
    """A copy of this tree whose participants' barrier acts again on a repeated Do (and still
    answers with the first result): a double effect only a replay shows."""
    copy_tree(REPO, dest)
    barrier = dest / "sagakit" / "barrier.py"
    replay = '        return bytes(first["result"]), True\n    result = apply()'  # Do's alone
    source = barrier.read_text()
    assert source.count(replay) == 1
    barrier.write_text(source.replace(replay, "        apply()\n" + replay))
    return dest


def test_a_barrier_that_acts_again_on_a_replay_fails_every_point_that_replays(
    tmp_path: Path,
) -> None:
    tree = _tampered_tree(tmp_path / "tree")
    code, doc, output = _run_matrix(tmp_path, "--saga", "completed", "--code", str(tree))
    assert code == 1, output
    failed = sorted(p["id"] for p in doc["points"] if not p["ok"])
    # Exactly the points where the participant had answered and recovery asked again.
    assert failed == [f"completed/before-{k}" for k in (2, 3, 4, 5)], output
    for p in doc["points"]:
        assert p["crash"] == "SIGKILL"
        assert all(v for v in p["violations"])  # each violation is named
    assert "5/9 points recovered" in output
