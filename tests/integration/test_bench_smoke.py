"""The benchmark harness in a tiny configuration, so it cannot rot (nothing here is timed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.measure import run_level
from bench.workload import MODES, Problem

ROOT = Path(__file__).resolve().parents[2]
SERVICES = {"orchestrator", "seat", "loyalty", "payment", "booking"}


def test_tiny_benchmark_writes_a_complete_report_and_chart(tmp_path: Path) -> None:
    args = "-n 5 -c 1,2 --warmup 2 --no-progress --out".split()
    run = subprocess.run(
        [sys.executable, "-m", "bench", *args, str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    (report_file,) = tmp_path.glob("*.json")
    doc = json.loads(report_file.read_text())
    assert doc["ok"] is True and doc["failed_bookings"] == 0
    assert doc["settings"]["concurrency"] == [1, 2]
    (variant,) = doc["variants"]
    (round_,) = variant["rounds"]
    warmup = round_["warmup"]
    assert warmup["ok"] == warmup["n"] == round_["flights"] + 2 * len(MODES)
    levels = {(lv["mode"], lv["concurrency"]): lv for lv in variant["levels"]}
    assert set(levels) == {(m, c) for m in MODES for c in (1, 2)}
    for lv in levels.values():
        assert (lv["n"], lv["ok"], lv["errors"], lv["unexpected"]) == (5, 5, 0, 0)
        assert lv["throughput_per_s"] > 0
        lat = lv["latency_ms"]
        assert 0 < lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["max"]
        assert SERVICES | {"bench_client"} <= set(lv["cpu_ms_per_op"])
    assert [r["concurrency"] for r in variant["ratios"]] == [1, 2]
    for r in variant["ratios"]:
        assert r["throughput_ratio"] > 0 and r["p50_ratio"] > 0
    assert set(variant["targets"]) == {"p50_ratio_at_c1"}
    assert set(variant["peak_rss_kb"]) == SERVICES
    assert all(kb > 0 for kb in variant["peak_rss_kb"].values())
    chart = Path(doc["chart"])
    assert chart.parent == tmp_path and chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "saga vs raw chain" in run.stdout


async def test_a_booking_that_ends_unexpectedly_is_counted_not_timed() -> None:
    async def op(i: int) -> None:
        if i % 3 == 0:
            raise Problem("status COMPENSATED, expected COMPLETED")
        if i % 3 == 1:
            raise RuntimeError("connection reset")

    level = run_level("saga", op, n=9, concurrency=2, pids={}, progress=False)
    result = (await level).to_json()
    assert (result["ok"], result["unexpected"], result["errors"]) == (3, 3, 3)
    assert any("expected COMPLETED" in s for s in result["problem_samples"])
