"""`python -m bench guard`: has the orchestrator's CPU per saga grown against its gRPC floor?

A short run (about a minute): `bench engine` (the engine alone, every part on), then the local
stack's `saga` and `relay` modes at concurrency 32, each round measuring both back to back. It
fails (exit 1) when the orchestrator/relay CPU ratio, the median over the rounds, is more than
TOLERANCE above the figure committed in bench/guard.json for this kind of machine. `.ci/run`
runs it after the tests (`make bench-guard`); bench/README.md ("The standing guards") says why
it is steady enough for that.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.report import orchestrator_per_relay

FIGURES = Path(__file__).with_name("guard.json")
TOLERANCE = 1.25
ROOT = Path(__file__).resolve().parent.parent


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "bench", *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)


def measure(bookings: int, rounds: int) -> list[float]:
    """The orchestrator/relay ratio at concurrency 32, one figure per round."""
    with tempfile.TemporaryDirectory(prefix="bench-guard-") as out:
        args = f"--modes saga,relay -c 32 -n {bookings} --repeat {rounds} --warmup 20"
        run = _bench(*args.split(), "--no-progress", "--out", out)
        if run.returncode != 0:
            raise RuntimeError(run.stdout[-2000:] + run.stderr[-2000:])
        (report,) = Path(out).glob("*.json")
        doc = json.loads(report.read_text())
    (variant,) = doc["variants"]
    ratios = [orchestrator_per_relay(r["levels"], 32) for r in variant["rounds"]]
    return [r for r in ratios if r is not None]


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench guard", description=__doc__)
    p.add_argument("-n", "--bookings", type=int, default=300)
    p.add_argument("--repeat", type=int, default=3, help="rounds (saga then relay in each)")
    p.add_argument("--machine", default=f"{os.cpu_count()} cores", help="the figure's key")
    p.add_argument("--update", action="store_true", help="commit this run's figure instead")
    args = p.parse_args(argv)
    engine = _bench("engine", "-n", "1500", "--repeat", "1", "--with", "all")
    print(engine.stdout.strip())
    ratios = measure(args.bookings, args.repeat)
    got = statistics.median(ratios)
    figures = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
    print(
        f"orchestrator/relay CPU at 32: {got:.2f} (rounds: {', '.join(f'{r:.2f}' for r in ratios)})"
    )
    if args.update:
        figures[args.machine] = round(got, 2)
        FIGURES.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
        print(f"committed figure for {args.machine}: {got:.2f} ({FIGURES})")
        return 0
    base = figures.get(args.machine)
    if base is None:
        print(f"no committed figure for {args.machine!r} in {FIGURES}: run with --update")
        return 2
    limit = base * TOLERANCE
    verdict = "ok" if got <= limit else "FAILED: the orchestrator's CPU grew against the relay"
    print(f"committed {base:.2f}, limit {limit:.2f}: {verdict}")
    return 0 if got <= limit else 1
