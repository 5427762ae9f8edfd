"""The benchmark's terminal tables: one line per level, the saga/raw and backend tables, the
changes against a baseline, and the replica table (bench/report.py computes the figures)."""

from __future__ import annotations

from typing import Any

from bench.report import RELAY, SERVICES, SHORT, orchestrator_per_relay


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
    lines += target_lines(variant["targets"])
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
        lines += target_lines(c["targets"])
    return lines


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


def target_lines(targets: dict[str, Any]) -> list[str]:
    return [
        f"  target {name}: {t['value']:.2f} ({t['target']}): " + ("met" if t["met"] else "not met")
        for name, t in targets.items()
    ]
