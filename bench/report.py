"""The benchmark's figures: rounds aggregated, saga against the raw chain and the relay, backends
and replicas compared, the targets, and the JSON file (bench/tables.py prints them, bench/chart.py
draws them)."""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench.databases import POSTGRES_CPU
from bench.measure import CLIENT
from sagas import services

RELAY = "relay"  # bench.relay: the relay mode's stand-in for the orchestrator
RELAY_SYNC = "relay-sync"  # bench.sync_relay: the relay on grpcio's synchronous server
# orchestrator, seat, ... booking first
SERVICES = (*services.NAMES, POSTGRES_CPU, RELAY, RELAY_SYNC, CLIENT)
SHORT = {"orchestrator": "orch", "seat": "seat", "loyalty": "loy", "payment": "pay"}
SHORT |= {"booking": "book", POSTGRES_CPU: "pg", RELAY: "relay", RELAY_SYNC: "rsync"}
SHORT |= {CLIENT: "client"}
# Targets for the saga against the raw chain (reported, never asserted).
TARGET_THROUGHPUT = (32, 0.5)  # at this concurrency, saga throughput >= this x raw
TARGET_P50 = (1, 1.5)  # at this concurrency, saga p50 <= this x raw
# Targets against the first backend of the run (reported, never asserted).
TARGET_DB_THROUGHPUT = (32, 1.0)  # at this concurrency, saga/s >= this x the baseline's
TARGET_DB_P50 = (1, 1.5)  # at this concurrency, saga p50 <= this x the baseline's


def _median(values: Iterable[float]) -> float:
    vals = [v for v in values if v == v]  # drop NaN
    return round(statistics.median(vals), 3) if vals else float("nan")


def aggregate(rounds: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Rows of several rounds -> one row per (mode, concurrency): medians; counts summed."""
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for rows in rounds:
        for row in rows:
            groups.setdefault((row["mode"], row["concurrency"]), []).append(row)
    out = []
    for (mode, conc), rows in groups.items():
        order = {k: i for i, k in enumerate(SERVICES)}
        cpu_keys = sorted(
            {k for r in rows for k in r["cpu_ms_per_op"]}, key=lambda k: order.get(k, 99)
        )
        out.append(
            {
                "mode": mode,
                "concurrency": conc,
                "rounds": len(rows),
                "n": sum(r["n"] for r in rows),
                "ok": sum(r["ok"] for r in rows),
                "errors": sum(r["errors"] for r in rows),
                "unexpected": sum(r["unexpected"] for r in rows),
                "problem_samples": [s for r in rows for s in r["problem_samples"]][:5],
                "throughput_per_s": _median(r["throughput_per_s"] for r in rows),
                "latency_ms": {
                    k: _median(r["latency_ms"][k] for r in rows)
                    for k in ("p50", "p95", "p99", "mean", "max")
                },
                "cpu_ms_per_op": {
                    k: _median(r["cpu_ms_per_op"][k] for r in rows if k in r["cpu_ms_per_op"])
                    for k in cpu_keys
                },
                "cpu_ms_per_op_services": _median(r["cpu_ms_per_op_services"] for r in rows),
            }
        )
    return out


def orchestrator_per_relay(levels: list[dict[str, Any]], conc: int) -> float | None:
    """The orchestrator's CPU per saga over the relay's per booking at `conc` (None: the
    relay did not run there)."""
    by = {(r["mode"], r["concurrency"]): r for r in levels}
    if ("saga", conc) not in by or (RELAY, conc) not in by:
        return None
    saga = by["saga", conc]["cpu_ms_per_op"].get("orchestrator")
    floor = by[RELAY, conc]["cpu_ms_per_op"].get(RELAY)
    if not saga or not floor or saga != saga or floor != floor:
        return None
    return round(float(saga) / float(floor), 3)


def ratios(levels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Saga against the raw chain at each concurrency both were run at, and the
    orchestrator's CPU against the relay's there (None without the relay)."""
    by = {(r["mode"], r["concurrency"]): r for r in levels}
    out = []
    for conc in sorted({c for m, c in by if m == "saga" and ("raw", c) in by}):
        saga, raw = by["saga", conc], by["raw", conc]
        out.append(
            {
                "concurrency": conc,
                **_against(saga, raw, "saga_", "raw_"),
                "saga_p99_ms": saga["latency_ms"]["p99"],
                "raw_p99_ms": raw["latency_ms"]["p99"],
                "p99_ratio": _ratio(saga["latency_ms"]["p99"], raw["latency_ms"]["p99"]),
                "orchestrator_per_relay": orchestrator_per_relay(levels, conc),
            }
        )
    return out


def targets(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return _goals({r["concurrency"]: r for r in rows}, "", TARGET_THROUGHPUT, TARGET_P50)


def _goals(
    by: dict[int, dict[str, Any]],
    prefix: str,
    throughput: tuple[int, float],
    p50: tuple[int, float],
) -> dict[str, Any]:
    """The throughput ratio (at least) and p50 ratio (at most) targets, at the concurrency
    levels they name, when the run has them."""
    out: dict[str, Any] = {}
    tc, tmin = throughput
    if tc in by:
        value = by[tc]["throughput_ratio"]
        out[f"{prefix}throughput_ratio_at_c{tc}"] = {
            "value": value,
            "target": f">= {tmin}",
            "met": value >= tmin,
        }
    pc, pmax = p50
    if pc in by:
        value = by[pc]["p50_ratio"]
        out[f"{prefix}p50_ratio_at_c{pc}"] = {
            "value": value,
            "target": f"<= {pmax}",
            "met": value <= pmax,
        }
    return out


def backend_comparison(variants: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each database backend against the run's first one, for the same code: per mode and
    concurrency, throughput, p50 and CPU per booking (services + database server), and their
    ratios (this / baseline); the TARGET_DB_* targets for the saga mode."""
    out = []
    bases: dict[str, dict[str, Any]] = {}
    for v in variants:
        base = bases.setdefault(v.get("code_label", v["label"]), v)
        if base is v or base.get("database") == v.get("database"):
            continue
        by_base = {(r["mode"], r["concurrency"]): r for r in base["levels"]}
        rows = [
            _backend_row(r, by_base[key])
            for r in v["levels"]
            if (key := (r["mode"], r["concurrency"])) in by_base
        ]
        out.append(
            {
                "label": v["label"],
                "baseline": base["label"],
                "database": v.get("database"),
                "baseline_database": base.get("database"),
                "rows": rows,
                "targets": _backend_targets(rows),
            }
        )
    return out


def _ratio(x: float, y: float) -> float:
    return round(x / y, 3) if y else float("nan")


def _against(x: dict[str, Any], y: dict[str, Any], xs: str, ys: str) -> dict[str, Any]:
    """Throughput and p50 of level x against level y, and their ratios (x / y); the keys of
    x's and y's own figures start with `xs` and `ys`."""
    tp, p50 = "throughput_per_s", "p50"
    return {
        f"{xs}per_s": x[tp],
        f"{ys}per_s": y[tp],
        "throughput_ratio": _ratio(x[tp], y[tp]),
        f"{xs}p50_ms": x["latency_ms"][p50],
        f"{ys}p50_ms": y["latency_ms"][p50],
        "p50_ratio": _ratio(x["latency_ms"][p50], y["latency_ms"][p50]),
    }


def _backend_row(r: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """One mode and concurrency level of a backend (r) against the baseline's (b)."""
    return {
        "mode": r["mode"],
        "concurrency": r["concurrency"],
        **_against(r, b, "", "base_"),
        "base_cpu_ms_per_op": b["cpu_ms_per_op_services"],
        "cpu_ms_per_op": r["cpu_ms_per_op_services"],
    }


def _backend_targets(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The TARGET_DB_* targets, for the saga mode's levels the run has."""
    saga = {row["concurrency"]: row for row in rows if row["mode"] == "saga"}
    return _goals(saga, "saga_", TARGET_DB_THROUGHPUT, TARGET_DB_P50)


# ---- files ------------------------------------------------------------------------------


def _strict(value: Any) -> Any:
    """NaN (a level with no successful booking has no latency) -> null: strict JSON."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strict(v) for v in value]
    return value


def write_json(report: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(_strict(report), indent=2, allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")


def replica_comparison(variants: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Saga throughput by orchestrator replica count, for the same code and backend, against
    one replica: per concurrency, bookings/s, p50 and the ratio to one replica."""
    groups: dict[tuple[str, str], dict[int, dict[str, Any]]] = {}
    for v in variants:
        key = (v.get("code_label", v["label"]), v.get("database", ""))
        groups.setdefault(key, {})[int(v.get("replicas", 1))] = v
    out = []
    for (code, database), by_count in groups.items():
        if len(by_count) < 2 or 1 not in by_count:
            continue
        one = {r["concurrency"]: r for r in by_count[1]["levels"] if r["mode"] == "saga"}
        for count in sorted(by_count):
            for r in by_count[count]["levels"]:
                b = one.get(r["concurrency"])
                if r["mode"] != "saga" or b is None:
                    continue
                out.append(
                    {
                        "code": code,
                        "database": database,
                        "replicas": count,
                        "concurrency": r["concurrency"],
                        "per_s": r["throughput_per_s"],
                        "p50_ms": r["latency_ms"]["p50"],
                        "vs_one_replica": round(r["throughput_per_s"] / b["throughput_per_s"], 3)
                        if b["throughput_per_s"]
                        else float("nan"),
                    }
                )
    return out
