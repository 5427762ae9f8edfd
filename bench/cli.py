"""`python -m bench`: saga throughput and latency against the raw participant call chain.

Brings up the local stack on free ports with a fresh data dir (or uses --target), warms up, then
runs N bookings per mode at each concurrency level, and writes a table, a JSON report and a PNG
chart. Exits 1 if any booking did not end as expected. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import platform
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from contextlib import AsyncExitStack, ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import chart, report, tables
from bench.arguments import parse_args
from bench.databases import Backend, Databases
from bench.measure import Level, peak_rss, run_level
from bench.profile import profiling, top
from bench.sidecars import otlp_sink, relay_server
from bench.stack import SystemUnderTest, local_stack, target_addrs
from bench.workload import (
    RELAYS,
    Workload,
    collect_flights,
    open_peers,
)
from sagakit.config import TlsConfig
from sagas.peers import Peers

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Variant:
    label: str
    code_dir: Path | None  # None: the installed (working tree) code


@dataclass(frozen=True)
class Cell:
    """What one round measures: a variant's code on one database backend, with a number of
    orchestrator replicas (and tracing on or off)."""

    label: str
    variant: Variant
    backend: Backend
    replicas: int = 1
    traced: bool = False


def with_tracing(runs: list[Cell], mode: str) -> list[Cell]:
    """--tracing: `on` traces every cell; `both` measures each cell untraced then traced."""
    if mode == "on":
        return [dataclasses.replace(c, traced=True) for c in runs]
    if mode == "both":
        return [
            dataclasses.replace(c, label=f"{c.label}/tracing-{state}", traced=state == "on")
            for c in runs
            for state in ("off", "on")
        ]
    return runs


def cells(
    variants: list[Variant], backends: list[Backend], named: bool, replicas: tuple[int, ...] = (1,)
) -> list[Cell]:
    """Every variant on every backend with every replica count. Labels: the variant's alone on
    SQLite only, the backend's alone for the working tree alone (`named`: --variant / --compare
    given), `variant/backend` otherwise; ` xN` for N replicas when several counts are run."""
    out = []
    for v in variants:
        for b in backends:
            if backends == [Backend("sqlite")]:
                label = v.label
            elif not named:
                label = b.name
            else:
                label = f"{v.label}/{b.name}"
            for n in replicas:
                out.append(Cell(label if tuple(replicas) == (1,) else f"{label} x{n}", v, b, n))
    return out


def _git(*args: str) -> str:
    out = subprocess.run(
        ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=False
    )
    return out.stdout.strip()


def export_revision(ref: str, into: Path) -> Path:
    """The source tree at `ref`, unpacked into a folder (the repository is left untouched)."""
    with tempfile.TemporaryFile() as tar:
        subprocess.run(["git", "-C", str(REPO), "archive", ref], stdout=tar, check=True)
        tar.seek(0)
        with tarfile.open(fileobj=tar) as tf:
            tf.extractall(into, filter="data")
    return into


def prepare_variants(args: argparse.Namespace, stack: ExitStack) -> list[Variant]:
    """The code each variant runs: the working tree, a source folder or an exported revision."""

    def source(ref: str) -> Path | None:
        if Path(ref).is_dir():
            path = Path(ref).resolve()
            return None if path == REPO else path
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-src-")))
        return export_revision(ref, tmp)

    if args.variant:
        return [
            Variant(label, source(ref)) for label, ref in (v.split("=", 1) for v in args.variant)
        ]
    variants = [Variant(args.label, None)]
    if args.compare:
        short = _git("rev-parse", "--short", args.compare) or args.compare
        variants.insert(0, Variant(f"baseline {short}", source(args.compare)))
    return variants


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "loadavg_start": list(os.getloadavg()),
    }


def say(line: str = "") -> None:
    print(line, flush=True)


async def run_round(
    sut: SystemUnderTest, args: argparse.Namespace, round_no: int, label: str
) -> dict[str, Any]:
    peers = open_peers(sut.addrs)
    async with AsyncExitStack() as resources:
        resources.push_async_callback(peers.close)
        cpu_pids = sut.cpu_pids
        rss_pids = sut.pids
        relays = {}
        for mode in (m for m in args.mode_list if m in RELAYS):
            # A relay's CPU is a column of every level (near zero outside its own levels).
            relay = relay_server(sut.addrs, RELAYS[mode])
            addr, pid = await resources.enter_async_context(relay)
            cpu_pids = {**cpu_pids, mode: pid}
            rss_pids = {**rss_pids, mode: pid}
            relay_peers = Peers({"orchestrator": addr}, tls=TlsConfig(), token="")
            resources.push_async_callback(relay_peers.close)
            relays[mode] = relay_peers.orchestrator
        per_level = args.bookings * len(args.levels) * len(args.mode_list)
        needed = per_level + args.warmup * len(args.mode_list)
        pool = await collect_flights(peers, seed=args.seed + round_no)
        pool = pool.sample(needed + len(pool), seed=args.seed + round_no)
        needed += len(pool)
        work = Workload(peers, pool, seed=args.seed + round_no, relays=relays)
        warmup = await warm_up(work, len(pool), args)
        levels: list[Level] = []
        async with AsyncExitStack() as stack:
            if args.profile is not None and sut.pids:
                safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", label)
                out = args.profile / f"round{round_no}-{safe}"
                await stack.enter_async_context(profiling(rss_pids, out))
            for conc in args.levels:
                for mode in args.mode_list:
                    op = work.operation(mode, args.bookings)
                    level = await run_level(
                        mode, op, args.bookings, conc, cpu_pids, not args.no_progress
                    )
                    levels.append(level)
                    say(tables.level_line(level.to_json()))
        return {
            "flights": len(pool),
            "warmup": warmup,
            "levels": [lv.to_json() for lv in levels],
            "peak_rss_kb": peak_rss(rss_pids),
        }


async def warm_up(work: Workload, flights: int, args: argparse.Namespace) -> dict[str, Any]:
    """Every flight of the pool booked once (the orchestrator's flight check, the seat
    service's pages), then `--warmup` bookings of each mode; checked, not measured."""
    prime = work.operation("saga", flights)
    warm = [await run_level("warm-up", prime, flights, 4, {}, not args.no_progress)]
    for mode in args.mode_list:
        op = work.operation(mode, args.warmup)
        if args.warmup:
            warm.append(await run_level(mode, op, args.warmup, 4, {}, not args.no_progress))
    return {
        "n": sum(w.n for w in warm),
        "ok": sum(w.ok for w in warm),
        "errors": sum(w.errors for w in warm),
        "unexpected": sum(w.unexpected for w in warm),
        "problem_samples": [s for w in warm for s in w.samples][:5],
    }


def summarize_variant(cell: Cell, rounds: list[dict[str, Any]]) -> dict[str, Any]:
    levels = report.aggregate([r["levels"] for r in rounds])
    rows = report.ratios(levels)
    rss: dict[str, int] = {}
    for r in rounds:
        for k, v in r["peak_rss_kb"].items():
            rss[k] = max(rss.get(k, 0), v)
    return {
        "label": cell.label,
        "code_label": cell.variant.label,
        "database": cell.backend.name,
        "replicas": cell.replicas,
        "code": str(cell.variant.code_dir or REPO),
        "rounds": rounds,
        "levels": levels,
        "ratios": rows,
        "targets": report.targets(rows),
        "peak_rss_kb": rss,
    }


def count_failed(variants: list[dict[str, Any]]) -> int:
    bad = 0
    for v in variants:
        for r in v["rounds"]:
            bad += r["warmup"]["errors"] + r["warmup"]["unexpected"]
            bad += sum(lv["errors"] + lv["unexpected"] for lv in r["levels"])
    return bad


async def run(args: argparse.Namespace) -> int:
    started = datetime.now(UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    host = machine()
    extra_env = args.extra_env
    runs, results = await measure_rounds(args, stamp, extra_env)
    summary = [summarize_variant(c, results[c.label]) for c in runs]
    by_backend = report.backend_comparison(summary)
    by_replicas = report.replica_comparison(summary)
    failed = count_failed(summary)
    out_json = args.out / f"{stamp}.json"
    out_png = args.out / f"{stamp}.png"
    doc: dict[str, Any] = {
        "schema": 1,
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": host,
        "git": {"commit": _git("rev-parse", "HEAD"), "dirty": bool(_git("status", "--short"))},
        "settings": run_settings(args, extra_env),
        "variants": summary,
        "backends": by_backend,
        "replicas": by_replicas,
        "failed_bookings": failed,
        "ok": failed == 0,
        "chart": str(out_png),
    }
    chart.write_chart(summary, out_png)
    doc["machine"]["loadavg_end"] = list(os.getloadavg())
    report.write_json(doc, out_json)
    say_results(summary, by_backend, by_replicas, args.profile)
    say(f"report: {out_json}\nchart:  {out_png}")
    if failed:
        banner = "!" * 78
        say(
            f"\n{banner}\n!!! {failed} BOOKING(S) DID NOT END AS EXPECTED: these figures are "
            f"not valid.\n!!! See problem_samples in {out_json}\n{banner}"
        )
        return 1
    return 0


async def measure_rounds(
    args: argparse.Namespace, stamp: str, extra_env: dict[str, str]
) -> tuple[list[Cell], dict[str, list[dict[str, Any]]]]:
    """Every round of every cell (variant x database x replicas x tracing); -> the cells, and
    each cell's rounds by its label."""
    backends: list[Backend] = args.backends
    dbs = Databases(stamp)
    with ExitStack() as stack:
        variants = await asyncio.to_thread(prepare_variants, args, stack)
        runs = cells(variants, backends, bool(args.variant or args.compare), args.replica_counts)
        runs = with_tracing(runs, args.tracing)
        traced_env = {}
        if args.tracing != "off":
            traced_env = {"OTEL_EXPORTER_OTLP_ENDPOINT": stack.enter_context(otlp_sink())}
        results: dict[str, list[dict[str, Any]]] = {c.label: [] for c in runs}
        say(
            f"FlightSaga benchmark: {args.bookings} bookings per level, concurrency "
            f"{args.levels}, modes {args.mode_list}, warm-up {args.warmup}, "
            f"{args.repeat} round(s), databases {[b.name for b in backends]}, "
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
        )
        stack.callback(dbs.close)
        await asyncio.to_thread(dbs.open, backends)
        for round_no in range(1, args.repeat + 1):
            for i, cell in enumerate(runs):
                say(f"-- round {round_no}/{args.repeat}: {cell.label}")
                say(tables.LEVEL_HEADER)
                if args.target:
                    sut = SystemUnderTest(target_addrs(args.target))
                    results[cell.label].append(await run_round(sut, args, round_no, cell.label))
                    continue
                with dbs.for_round(cell.backend, f"r{round_no}v{i}") as databases:
                    code_dir = cell.variant.code_dir
                    env = {**extra_env, **(traced_env if cell.traced else {})}
                    async with local_stack(
                        code_dir, env, databases=databases, replicas=cell.replicas
                    ) as sut:
                        sut.server_pids = dbs.server_pids(cell.backend)
                        results[cell.label].append(await run_round(sut, args, round_no, cell.label))
    return runs, results


def run_settings(args: argparse.Namespace, extra_env: dict[str, str]) -> dict[str, Any]:
    """The run's settings, as the report's JSON records them."""
    return {
        "bookings_per_level": args.bookings,
        "concurrency": args.levels,
        "modes": args.mode_list,
        "warmup_per_mode": args.warmup,
        "repeat": args.repeat,
        "target": args.target,
        "compare": args.compare,
        "variants": args.variant,
        "databases": [b.name for b in args.backends],
        "replicas": args.replica_counts,
        "env": extra_env,
        "tracing": args.tracing,
        "seed": args.seed,
    }


def say_results(
    summary: list[dict[str, Any]],
    by_backend: list[dict[str, Any]],
    by_replicas: list[dict[str, Any]],
    profile: Path | None,
) -> None:
    """The report in text: each cell, the comparisons, and the profiles' top functions."""
    say()
    for v in summary:
        for line in tables.variant_text(v):
            say(line)
        say()
    for line in tables.comparison_text(summary):
        say(line)
    for line in tables.backend_text(by_backend):
        say(line)
    for line in tables.replica_text(by_replicas):
        say(line)
    if profile is not None:
        for prof in sorted(profile.glob("*/*.txt")):
            say(f"profile {prof} (inclusive %, self %):")
            for inc, own, fn in top(prof, 15):
                say(f"  {inc:5.1f} {own:5.1f}  {fn}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    t0 = time.perf_counter()
    try:
        code = asyncio.run(run(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    say(f"({time.perf_counter() - t0:.0f} s)")
    return code
