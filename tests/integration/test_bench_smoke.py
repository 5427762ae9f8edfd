"""The benchmark harness in a tiny configuration, so it cannot rot (nothing here is timed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.arguments import parse_args
from bench.databases import Backend, parse_backends
from bench.measure import run_level
from bench.workload import MODES, Problem
from tests.support.postgres import require_bin_dir

ROOT = Path(__file__).resolve().parents[2]
SERVICES = {"orchestrator", "seat", "loyalty", "payment", "booking"}


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m bench ARGS` as a user runs it, from the repository."""
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def test_tiny_benchmark_writes_a_complete_report_and_chart(tmp_path: Path) -> None:
    # 15 bookings a level: the relay's CPU (about 2 ms a booking) is read in 10 ms clock
    # ticks, and 5 could read as none, leaving orchestrator / relay without a figure.
    args = "-n 15 -c 1,2 --warmup 2 --no-progress --out".split()
    run = bench(*args, str(tmp_path))
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
        assert (lv["n"], lv["ok"], lv["errors"], lv["unexpected"]) == (15, 15, 0, 0)
        assert lv["throughput_per_s"] > 0
        lat = lv["latency_ms"]
        assert 0 < lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["max"]
        assert SERVICES | {"bench_client"} <= set(lv["cpu_ms_per_op"])
    assert [r["concurrency"] for r in variant["ratios"]] == [1, 2]
    for r in variant["ratios"]:
        assert r["throughput_ratio"] > 0 and r["p50_ratio"] > 0
        assert r["orchestrator_per_relay"] > 0  # the relay runs by default
    assert set(variant["targets"]) == {"p50_ratio_at_c1"}
    assert set(variant["peak_rss_kb"]) == SERVICES | {"relay"}
    assert all(kb > 0 for kb in variant["peak_rss_kb"].values())
    chart = Path(doc["chart"])
    assert chart.parent == tmp_path and chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "saga vs raw chain" in run.stdout and "orch/relay" in run.stdout


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


def test_both_backends_in_one_run_on_a_given_server(tmp_path: Path, pg_cluster: Any) -> None:
    """`--database sqlite,URL`: rounds on SQLite and on the server, compared in the report; the
    databases the bench created on the server are dropped after the round."""
    server = pg_cluster.url_for("benchsmoke")
    args = "-n 3 -c 2 --warmup 1 --modes raw,saga --no-progress --out".split()
    run = bench(*args, str(tmp_path), "--database", f"sqlite,{server}")
    assert run.returncode == 0, run.stdout + run.stderr
    (report_file,) = tmp_path.glob("*.json")
    doc = json.loads(report_file.read_text())
    assert doc["ok"] is True
    masked = server.replace(":flightsaga@", ":***@")
    assert [v["database"] for v in doc["variants"]] == ["sqlite", masked]
    for variant in doc["variants"]:
        for lv in variant["levels"]:
            assert (lv["n"], lv["ok"]) == (3, 3)
    (comparison,) = doc["backends"]
    assert (comparison["baseline_database"], comparison["database"]) == ("sqlite", masked)
    assert {(r["mode"], r["concurrency"]) for r in comparison["rows"]} == {
        ("raw", 2),
        ("saga", 2),
    }
    assert ":flightsaga@" not in run.stdout + run.stderr  # the password is never printed
    left = pg_cluster.admin("SELECT datname FROM pg_database WHERE datname LIKE 'benchsmoke%'")
    assert left == []


def test_database_option_parsing() -> None:
    assert parse_backends([]) == [Backend("sqlite")]
    assert [b.name for b in parse_backends(["sqlite,postgres"])] == ["sqlite", "postgres"]
    (url,) = parse_backends(["postgresql://u:secret@127.0.0.1:5/db"])
    assert (url.name, url.kind) == ("postgresql://u:***@127.0.0.1:5/db", "postgres")
    for bad in (["mysql"], ["sqlite", "sqlite"]):
        with pytest.raises(ValueError):
            parse_backends(bad)


def test_orchestrator_replicas_in_one_run(tmp_path: Path, pg_cluster: Any) -> None:
    """`--replicas 1,2`: a round with one orchestrator and one with two on the same saga log,
    the load spread over both, compared in the report."""
    server = pg_cluster.url_for("benchreplicas")
    args = "-n 4 -c 2 --warmup 1 --modes saga --replicas 1,2 --no-progress --out".split()
    run = bench(*args, str(tmp_path), "--database", server)
    assert run.returncode == 0, run.stdout + run.stderr
    doc = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert doc["ok"] is True
    assert [v["replicas"] for v in doc["variants"]] == [1, 2]
    two = doc["variants"][1]
    assert {"orchestrator", "orchestrator-2"} <= set(two["peak_rss_kb"])
    for lv in two["levels"]:
        assert (lv["n"], lv["ok"]) == (4, 4)
        assert "orchestrator-2" in lv["cpu_ms_per_op"]  # its CPU is counted too
    assert [(r["replicas"], r["concurrency"]) for r in doc["replicas"]] == [(1, 2), (2, 2)]
    assert "by orchestrator replicas" in run.stdout


def test_relay_modes_measure_the_relays_beside_the_local_stack(tmp_path: Path) -> None:
    """`--modes raw,relay,relay-sync`: bench.relay and bench.sync_relay run beside the stack
    for the round, their bookings all end as expected, and their CPU is a column of the report
    (and of the table)."""
    args = "--modes raw,relay,relay-sync -n 20 -c 2 --repeat 1 --warmup 2 --no-progress --out"
    run = bench(*args.split(), str(tmp_path))
    assert run.returncode == 0, run.stdout + run.stderr
    doc = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert doc["ok"] is True and doc["settings"]["modes"] == ["raw", "relay", "relay-sync"]
    (variant,) = doc["variants"]
    levels = {lv["mode"]: lv for lv in variant["levels"]}
    assert set(levels) == {"raw", "relay", "relay-sync"}
    for mode in ("relay", "relay-sync"):
        relay = levels[mode]
        assert (relay["n"], relay["ok"], relay["errors"], relay["unexpected"]) == (20, 20, 0, 0)
        assert relay["cpu_ms_per_op"][mode] > 0
        assert mode in levels["raw"]["cpu_ms_per_op"]  # a column of every level
        assert variant["peak_rss_kb"][mode] > 0
    assert "relay=" in run.stdout and "rsync=" in run.stdout


def test_relay_mode_is_a_default_of_a_local_stack_only() -> None:
    assert "relay" in parse_args([]).mode_list
    assert "relay" not in parse_args(["--target", "127.0.0.1:1"]).mode_list
    run = bench("--modes", "saga,relay", "--target", "127.0.0.1:1")
    assert run.returncode == 2 and "not with --target" in run.stderr


def test_replicas_need_postgres() -> None:
    run = bench("--replicas", "2")
    assert run.returncode == 2 and "--database postgres" in run.stderr


def test_engine_alone_runs_each_configuration_in_its_own_process() -> None:
    run = bench("engine", "-n", "40", "-c", "4", "--repeat", "1", "--with", "none,all,sink")
    assert run.returncode == 0, run.stdout + run.stderr
    rows = {line.split("  ")[1].strip(): line for line in run.stdout.splitlines()[2:]}
    assert set(rows) == {"engine alone", "sink, observers, logging", "sink"}, run.stdout
    for line in rows.values():
        rate, cpu, p50, statements = line.split()[-4:]
        assert float(rate) > 0 and float(cpu) > 0 and float(p50) > 0, line
        assert statements == "-", line  # counted on PostgreSQL only
    bad = bench("engine", "--with", "tracing")
    assert bad.returncode == 2 and "--with: 'tracing'" in bad.stderr


@pytest.mark.postgres
def test_engine_alone_on_postgres_counts_the_statements_a_saga_sends() -> None:
    require_bin_dir()
    run = bench("engine", "--database", "postgres", "-n", "30", "-c", "1", "--repeat", "1")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "saga log on postgres" in run.stdout, run.stdout
    for line in run.stdout.splitlines()[2:]:
        # Five transactions a saga: each at least one statement and its COMMIT.
        assert float(line.split()[-1]) >= 10, line


def test_tiny_overload_run_refuses_past_the_limit_and_loses_no_saga(tmp_path: Path) -> None:
    out = tmp_path / "overload.json"
    args = "overload --limit 2 --duration 2 --probe 1 --clients 4 --dates 4 --json".split()
    run = bench(*args, str(out))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "| t (s) | admitted/s | refused/s | p50 ms | p99 ms |" in run.stdout
    figures = json.loads(out.read_text())["sqlite"]
    assert figures["overload"]["refused_per_s"] > 0
    assert figures["log"]["total"] == figures["log"]["admitted"] == figures["log"]["completed"]


def test_tiny_refusal_cost_run_measures_refusals_and_the_floor(tmp_path: Path) -> None:
    out = tmp_path / "refusal.json"
    args = "overload --refusal-cost --calls 40 --rounds 1 --clients 4 --json".split()
    run = bench(*args, str(out))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "| refused BookFlight |" in run.stdout and "| ListSagaTypes |" in run.stdout
    rounds = json.loads(out.read_text())  # 40 calls are too few for /proc's 10 ms ticks: shape only
    assert set(rounds) == {"refused BookFlight", "ListSagaTypes"}
    assert all(set(r[0]) == {"server_ms", "client_ms"} for r in rounds.values()), rounds


@pytest.mark.postgres
def test_roundtrips_times_each_shape_of_a_transition_on_both_backends() -> None:
    require_bin_dir()
    run = bench("roundtrips", "-n", "20", "--repeat", "1")
    assert run.returncode == 0, run.stdout + run.stderr
    rows = {line[:45].strip(): line[45:].split() for line in run.stdout.splitlines()[2:]}
    assert set(rows) == {
        "sqlite",
        "postgres, today",
        "postgres, one statement, in a transaction",
        "postgres, one statement, autocommit",
    }, run.stdout
    for figures in rows.values():
        assert float(figures[0]) > 0, run.stdout  # µs of wall time per transition
