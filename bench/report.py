"""The benchmark's report: terminal tables, the JSON file and the PNG chart."""

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


def backend_text(comparisons: list[dict[str, Any]]) -> list[str]:
    lines: list[str] = []
    for c in comparisons:
        b, t = c["baseline"], c["label"]
        lines += [
            "",
            f"== {t} against {b} (same run): base = {b}, this = {t}; CPU: ms per booking, "
            "services + database server ==",
            f"  {'mode':<9}{'conc':>5}{'base/s':>10}{'this/s':>10}{'x':>7}"
            f"{'base p50':>10}{'this p50':>10}{'x':>7}{'base CPU':>10}{'this CPU':>10}",
        ]
        for r in c["rows"]:
            lines.append(
                f"  {r['mode']:<9}{r['concurrency']:>5}{r['base_per_s']:>10.1f}{r['per_s']:>10.1f}"
                f"{r['throughput_ratio']:>7.2f}{r['base_p50_ms']:>10.1f}{r['p50_ms']:>10.1f}"
                f"{r['p50_ratio']:>7.2f}{r['base_cpu_ms_per_op']:>10.1f}{r['cpu_ms_per_op']:>10.1f}"
            )
        for name, g in c["targets"].items():
            lines.append(
                f"  target {name}: {g['value']:.2f} ({g['target']}): "
                + ("met" if g["met"] else "not met")
            )
    return lines


# ---- terminal ---------------------------------------------------------------------------


def level_line(row: dict[str, Any]) -> str:
    lat = row["latency_ms"]
    bad = row["errors"] + row["unexpected"]
    per = dict(row["cpu_ms_per_op"])
    # Orchestrator replicas (orchestrator-2, ...) count together: the cost of a booking.
    replicas = [k for k in per if k.startswith("orchestrator-")]
    for k in replicas:
        per["orchestrator"] = per.get("orchestrator", 0.0) + per.pop(k)
    cpu = " ".join(f"{SHORT.get(k, k)}={per[k]:.2f}" for k in SERVICES if k in per)
    if replicas:
        cpu = cpu.replace("orch=", f"orch(x{len(replicas) + 1})=", 1)
    flag = f"  <-- {bad} FAILED" if bad else ""
    return (
        f"  {row['mode']:<8}{row['concurrency']:>5}{row['n']:>7}{row['ok']:>7}{bad:>6}"
        f"{row['throughput_per_s']:>10.1f}{lat['p50']:>9.1f}{lat['p95']:>9.1f}{lat['p99']:>9.1f}"
        f"   {cpu}{flag}"
    )


LEVEL_HEADER = (
    f"  {'mode':<8}{'conc':>5}{'n':>7}{'ok':>7}{'bad':>6}{'ops/s':>10}{'p50 ms':>9}"
    f"{'p95 ms':>9}{'p99 ms':>9}   CPU ms per op (per process)"
)


def ratio_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        f"  {'conc':>5}{'saga/s':>10}{'raw/s':>10}{'saga/raw':>10}"
        f"{'saga p50':>10}{'raw p50':>10}{'saga/raw':>10}{'saga p99':>10}{'raw p99':>10}"
        f"{'orch/relay':>11}"
    ]
    for r in rows:
        relay = r.get("orchestrator_per_relay")
        lines.append(
            f"  {r['concurrency']:>5}{r['saga_per_s']:>10.1f}{r['raw_per_s']:>10.1f}"
            f"{r['throughput_ratio']:>10.2f}{r['saga_p50_ms']:>10.1f}{r['raw_p50_ms']:>10.1f}"
            f"{r['p50_ratio']:>10.2f}{r['saga_p99_ms']:>10.1f}{r['raw_p99_ms']:>10.1f}"
            + (f"{relay:>11.2f}" if relay is not None else f"{'-':>11}")
        )
    return lines


def relay_lines(levels: list[dict[str, Any]]) -> list[str]:
    """The orchestrator's CPU per saga against the relay's per booking (its own gRPC calls
    alone), at each concurrency both modes ran at."""
    by = {(r["mode"], r["concurrency"]): r for r in levels}
    lines = []
    for conc in sorted({c for m, c in by if m == "saga" and (RELAY, c) in by}):
        x = orchestrator_per_relay(levels, conc)
        if x is None:
            continue
        saga = by["saga", conc]["cpu_ms_per_op"]["orchestrator"]
        floor = by[RELAY, conc]["cpu_ms_per_op"][RELAY]
        lines.append(
            f"  c={conc}: orchestrator {saga:.2f} ms CPU per saga, relay {floor:.2f} ms per "
            f"booking (its gRPC calls alone): orchestrator/relay {x:.2f}"
        )
    return ["", "  orchestrator CPU against the relay floor:", *lines] if lines else []


def variant_text(variant: dict[str, Any]) -> list[str]:
    rounds = len(variant["rounds"])
    how = f"median of {rounds} rounds" if rounds > 1 else "1 round"
    lines = [f"== {variant['label']} ({how}) ==", LEVEL_HEADER]
    lines += [level_line(r) for r in variant["levels"]]
    if variant["ratios"]:
        lines += ["", "  saga vs raw chain (throughput: higher is better; latency: lower):"]
        lines += ratio_table(variant["ratios"])
    lines += relay_lines(variant["levels"])
    for name, t in variant["targets"].items():
        lines.append(
            f"  target {name}: {t['value']:.2f} ({t['target']}): "
            + ("met" if t["met"] else "not met")
        )
    if variant["peak_rss_kb"]:
        rss = ", ".join(f"{k} {v / 1024:.0f} MB" for k, v in variant["peak_rss_kb"].items())
        lines.append(f"  peak RSS: {rss}")
    return lines


def comparison_text(variants: list[dict[str, Any]]) -> list[str]:
    """Each variant against the first (the baseline), mode by mode."""
    if len(variants) < 2:
        return []
    base = {(r["mode"], r["concurrency"]): r for r in variants[0]["levels"]}
    lines = [f"== change against {variants[0]['label']} =="]
    for v in variants[1:]:
        lines.append(
            f"  {v['label']:<12}{'mode':<9}{'conc':>5}{'ops/s':>10}{'x base':>8}"
            f"{'p50 ms':>9}{'x base':>8}{'p99 ms':>9}{'x base':>8}"
        )
        for r in v["levels"]:
            b = base.get((r["mode"], r["concurrency"]))
            if b is None:
                continue
            tp = r["throughput_per_s"] / b["throughput_per_s"] if b["throughput_per_s"] else 0
            p50 = r["latency_ms"]["p50"] / b["latency_ms"]["p50"] if b["latency_ms"]["p50"] else 0
            p99 = r["latency_ms"]["p99"] / b["latency_ms"]["p99"] if b["latency_ms"]["p99"] else 0
            lines.append(
                f"  {'':<12}{r['mode']:<9}{r['concurrency']:>5}{r['throughput_per_s']:>10.1f}"
                f"{tp:>8.2f}{r['latency_ms']['p50']:>9.1f}{p50:>8.2f}"
                f"{r['latency_ms']['p99']:>9.1f}{p99:>8.2f}"
            )
    return lines


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


def replica_text(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return []
    lines = [
        "saga throughput by orchestrator replicas (one saga log; x one replica):",
        f"  {'replicas':>8} {'conc':>5} {'sagas/s':>9} {'p50 ms':>8} {'x1':>6}",
    ]
    for r in rows:
        lines.append(
            f"  {r['replicas']:>8} {r['concurrency']:>5} {r['per_s']:>9.1f}"
            f" {r['p50_ms']:>8.1f} {r['vs_one_replica']:>6.2f}"
        )
    return lines


COLORS = {"raw": "tab:gray", "saga": "tab:blue", "failure": "tab:red", "mix": "tab:green"}
COLORS[RELAY] = "tab:purple"


def write_chart(variants: list[dict[str, Any]], path: Path) -> None:
    """Throughput and p50/p99 latency against concurrency: saga vs raw chain (per variant)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    styles = ["-", "--", ":", "-."]
    fig, (ax_tp, ax_lat) = plt.subplots(1, 2, figsize=(13, 5))
    levels_seen: set[int] = set()
    for vi, variant in enumerate(variants):
        suffix = f" ({variant['label']})" if len(variants) > 1 else ""
        levels_seen |= _plot_variant(ax_tp, ax_lat, variant, styles[vi % len(styles)], suffix)
    ticks = sorted(levels_seen)
    for ax in (ax_tp, ax_lat):
        ax.set_xscale("log", base=2)
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.set_xlabel("concurrent clients")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    ax_tp.set_ylabel("bookings per second")
    ax_tp.set_title("Throughput")
    ax_lat.set_yscale("log")
    ax_lat.set_ylabel("latency (ms, log scale)")
    ax_lat.set_title("Latency p50 / p99: saga vs raw chain")
    fig.suptitle("FlightSaga: saga through the orchestrator vs the raw participant call chain")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_variant(
    ax_tp: Any, ax_lat: Any, variant: dict[str, Any], style: str, suffix: str
) -> set[int]:
    """One variant's lines: throughput of every mode, p50 and p99 of saga and raw; returns the
    concurrency levels it has."""
    modes: dict[str, list[dict[str, Any]]] = {}
    for row in variant["levels"]:
        modes.setdefault(row["mode"], []).append(row)
    seen: set[int] = set()
    for mode, rows in modes.items():
        rows.sort(key=lambda r: r["concurrency"])
        xs = [r["concurrency"] for r in rows]
        seen.update(xs)
        line = {"marker": "o", "color": COLORS.get(mode, "black")}
        ys = [r["throughput_per_s"] for r in rows]
        ax_tp.plot(xs, ys, style, label=f"{mode}{suffix}", **line)
        if mode not in ("saga", "raw"):
            continue
        p50 = [r["latency_ms"]["p50"] for r in rows]
        ax_lat.plot(xs, p50, style, label=f"{mode} p50{suffix}", **line)
        p99 = [r["latency_ms"]["p99"] for r in rows]
        ax_lat.plot(
            xs, p99, style, label=f"{mode} p99{suffix}", alpha=0.6, **{**line, "marker": "^"}
        )
    return seen
