"""`python -m bench overload`: the stack under four times the load it can finish.

Per backend: on a stack that admits everything, bookings one at a time (the unloaded p50/p99)
and `--clients` at once (the peak throughput), before and after an open loop of `--factor`
times that peak for `--duration` seconds sent to a second stack with the admission limit; then
a check that every admitted saga ended and no refused one left a row. Prints admitted/s,
refused/s and the p50/p99 of admitted calls per window (bench/README.md "Overload").
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from bench import refusal_cost
from bench.databases import Backend, Databases, parse_backends
from bench.measure import percentile
from bench.stack import local_stack
from bench.workload import Workload, collect_flights, open_peers
from flightsaga.v1 import orchestrator_pb2
from orchestrator.config import DEFAULT_MAX_IN_FLIGHT
from sagas.peers import Peers

WINDOW_S = 5.0
DATES = 120  # days of flights searched: seats for a minute at several hundred bookings a second
UNLIMITED = 1_000_000  # SAGA_MAX_IN_FLIGHT of the stack that measures the peak


@dataclass
class Tally:
    """What one phase saw: admitted latencies (ms) and refusals, per window since its start."""

    started: float = field(default_factory=time.perf_counter)
    admitted: dict[int, list[float]] = field(default_factory=dict)
    refused: dict[int, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def record(self, sent: float, outcome: str) -> None:
        window = int((sent - self.started) // WINDOW_S)
        if outcome == "admitted":
            ms = (time.perf_counter() - sent) * 1000
            self.admitted.setdefault(window, []).append(ms)
        elif outcome == "refused":
            self.refused[window] = self.refused.get(window, 0) + 1
        else:
            self.problems.append(outcome)

    def all_ms(self) -> list[float]:
        return sorted(ms for v in self.admitted.values() for ms in v)

    @property
    def n_admitted(self) -> int:
        return sum(len(v) for v in self.admitted.values())

    @property
    def n_refused(self) -> int:
        return sum(self.refused.values())


async def one_booking(work: Workload, tally: Tally) -> None:
    sent = time.perf_counter()
    try:
        await work.book()
        tally.record(sent, "admitted")
    except grpc.aio.AioRpcError as exc:
        busy = exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        tally.record(sent, "refused" if busy else f"{exc.code().name}: {exc.details()}")
    except Exception as exc:  # a reply other than COMPLETED: reported, never hidden
        tally.record(sent, f"{type(exc).__name__}: {exc}")


async def closed_loop(work: Workload, clients: int, seconds: float) -> Tally:
    """`clients` bookings at a time for `seconds`; a refused client waits a little."""
    tally = Tally()
    end = tally.started + seconds

    async def client() -> None:
        while time.perf_counter() < end:
            refused = tally.n_refused
            await one_booking(work, tally)
            if tally.n_refused > refused:
                await asyncio.sleep(0.01)

    await asyncio.gather(*(client() for _ in range(clients)))
    return tally


async def open_loop(work: Workload, rate: float, seconds: float) -> Tally:
    """New bookings at `rate` a second for `seconds`, whatever the answers: the open loop."""
    tally = Tally()
    tasks: set[asyncio.Task[None]] = set()
    sent = 0
    while (elapsed := time.perf_counter() - tally.started) < seconds:
        for _ in range(int(elapsed * rate) - sent):
            task = asyncio.create_task(one_booking(work, tally))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            sent += 1
        await asyncio.sleep(0.005)
    await asyncio.gather(*tasks)
    return tally


async def settle(peers: Peers, timeout: float = 120.0) -> orchestrator_pb2.Stats:
    """The orchestrator's counts once no saga is live (or at `timeout`)."""
    end = time.monotonic() + timeout
    while True:
        stats: orchestrator_pb2.Stats = await peers.orchestrator.GetStats(
            orchestrator_pb2.GetStatsRequest(), timeout=10
        )
        if stats.running + stats.compensating == 0 or time.monotonic() > end:
            return stats
        await asyncio.sleep(0.5)


def windows(tally: Tally) -> list[dict[str, Any]]:
    rows = []
    for w in sorted(set(tally.admitted) | set(tally.refused)):
        ms = sorted(tally.admitted.get(w, []))
        rows.append(
            {
                "t_s": int(w * WINDOW_S),
                "admitted_per_s": round(len(ms) / WINDOW_S, 1),
                "refused_per_s": round(tally.refused.get(w, 0) / WINDOW_S, 1),
                "p50_ms": round(percentile(ms, 50), 1),
                "p99_ms": round(percentile(ms, 99), 1),
            }
        )
    return rows


@contextlib.asynccontextmanager
async def stack(
    backend: Backend, dbs: Databases, limit: int, tag: str, dates: int = DATES
) -> AsyncIterator[tuple[Workload, Peers]]:
    """A fresh local stack on `backend` with SAGA_MAX_IN_FLIGHT=`limit`."""
    env = {"SAGA_MAX_IN_FLIGHT": str(limit)}
    with dbs.for_round(backend, tag) as databases:
        async with local_stack(extra_env=env, databases=databases) as sut:
            peers = open_peers(sut.addrs)
            try:
                yield Workload(peers, await collect_flights(peers, dates=dates)), peers
            finally:
                await peers.close()


async def probes(work: Workload, a: argparse.Namespace) -> tuple[Tally, Tally]:
    """One client at a time (unloaded), then `--clients` at once (the peak)."""
    unloaded = await closed_loop(work, 1, a.probe)
    return unloaded, await closed_loop(work, a.clients, a.probe)


async def run_backend(backend: Backend, dbs: Databases, a: argparse.Namespace) -> dict[str, Any]:
    """The unloaded and peak figures on a stack that admits everything, before and after the
    overload on a second stack with the admission limit (so both see the machine's noise)."""
    async with stack(backend, dbs, UNLIMITED, "ovp", a.dates) as (probe_work, _):
        await closed_loop(probe_work, 4, 3.0)  # warm-up
        before = await probes(probe_work, a)
        offered = a.factor * before[1].n_admitted / a.probe
        async with stack(backend, dbs, a.limit, "ovl", a.dates) as (work, peers):
            warm = await closed_loop(work, 4, 3.0)
            over = await open_loop(work, offered, a.duration)
            stats = await settle(peers)
        after = await probes(probe_work, a)
    out = summary(before, after, over, a)
    out["offered_per_s"] = offered
    out["problems"] = [p for t in (*before, *after, warm, over) for p in t.problems][:10]
    out["log"] = {
        "total": stats.total,
        "completed": stats.completed,
        "live": stats.running + stats.compensating,
        "failed": stats.failed,
        "admitted": warm.n_admitted + over.n_admitted,
    }
    return out


def summary(
    before: tuple[Tally, Tally], after: tuple[Tally, Tally], over: Tally, a: argparse.Namespace
) -> dict[str, Any]:
    unloaded = sorted(before[0].all_ms() + after[0].all_ms())
    peaks = [t.n_admitted / a.probe for t in (before[1], after[1])]
    peak_rate = sum(peaks) / 2
    over_rate = over.n_admitted / a.duration
    over_p99 = percentile(over.all_ms(), 99)
    return {
        "unloaded": {"p50_ms": percentile(unloaded, 50), "p99_ms": percentile(unloaded, 99)},
        "peak": {
            "per_s": peak_rate,
            "before_after_per_s": peaks,
            "p99_ms": percentile(sorted(before[1].all_ms() + after[1].all_ms()), 99),
        },
        "overload": {
            "admitted_per_s": over_rate,
            "refused_per_s": over.n_refused / a.duration,
            "p50_ms": percentile(over.all_ms(), 50),
            "p99_ms": over_p99,
            "p99_over_unloaded": over_p99 / percentile(unloaded, 99),
            "throughput_over_peak": over_rate / peak_rate,
            "windows": windows(over),
        },
        "loadavg": os.getloadavg(),
    }


def table(backend: str, r: dict[str, Any]) -> str:
    o = r["overload"]
    lines = [
        f"### {backend}",
        "",
        f"unloaded (1 client): p50 {r['unloaded']['p50_ms']:.1f} ms, p99 "
        f"{r['unloaded']['p99_ms']:.1f} ms; peak: {r['peak']['per_s']:.1f}/s (before / after: "
        + " / ".join(f"{x:.1f}" for x in r["peak"]["before_after_per_s"])
        + f", p99 {r['peak']['p99_ms']:.1f} ms); offered {r['offered_per_s']:.0f}/s; load average "
        + " ".join(f"{x:.2f}" for x in r["loadavg"]),
        "",
        "| t (s) | admitted/s | refused/s | p50 ms | p99 ms |",
        "|---:|---:|---:|---:|---:|",
        *(
            f"| {w['t_s']} | {w['admitted_per_s']} | {w['refused_per_s']} | {w['p50_ms']} "
            f"| {w['p99_ms']} |"
            for w in o["windows"]
        ),
        "",
        f"overload: {o['admitted_per_s']:.1f} admitted/s ({o['throughput_over_peak']:.0%} of "
        f"peak), {o['refused_per_s']:.1f} refused/s, p50 {o['p50_ms']:.1f} ms, p99 "
        f"{o['p99_ms']:.1f} ms ({o['p99_over_unloaded']:.2f}x unloaded); saga log: "
        f"{r['log']['total']} sagas for {r['log']['admitted']} admitted calls, "
        f"{r['log']['completed']} completed, {r['log']['live']} "
        f"live, {r['log']['failed']} failed; problems: {len(r['problems'])}",
    ]
    return "\n".join(lines)


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench overload", description=__doc__)
    p.add_argument("--database", action="append", default=[], help="sqlite, postgres (both: ,)")
    p.add_argument(
        "--limit", type=int, default=DEFAULT_MAX_IN_FLIGHT, help="SAGA_MAX_IN_FLIGHT (64)"
    )
    p.add_argument("--clients", type=int, default=32, help="clients of the peak phase (32)")
    p.add_argument("--factor", type=float, default=4.0, help="offered load / peak (4)")
    p.add_argument("--duration", type=float, default=60.0, help="seconds of overload (60)")
    p.add_argument("--probe", type=float, default=15.0, help="seconds of each probe phase (15)")
    p.add_argument("--dates", type=int, default=DATES, help=f"days of flights to book ({DATES})")
    p.add_argument("--json", type=Path, help="write the figures here too")
    p.add_argument(
        "--refusal-cost",
        action="store_true",
        help="instead: the orchestrator's CPU per refused BookFlight (bench/refusal_cost.py)",
    )
    p.add_argument("--calls", type=int, default=3000, help="--refusal-cost: calls a round (3000)")
    p.add_argument("--rounds", type=int, default=3, help="--refusal-cost: rounds (3)")
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    a = parse(argv)
    if a.refusal_cost:
        return refusal_cost.main(a)
    dbs = Databases(time.strftime("%H%M%S"))
    backends = parse_backends(a.database)
    dbs.open(backends)
    out: dict[str, Any] = {}
    try:
        for backend in backends:
            out[backend.name] = asyncio.run(run_backend(backend, dbs, a))
            print(table(backend.name, out[backend.name]), flush=True)
    finally:
        dbs.close()
    if a.json:
        a.json.write_text(json.dumps(out, indent=2))
    bad = [b for b, r in out.items() if r["problems"] or r["log"]["total"] != r["log"]["admitted"]]
    return 1 if bad else 0
