"""The benchmark's PNG chart: throughput and p50/p99 against concurrency, per variant."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.report import RELAY

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
