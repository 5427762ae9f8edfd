"""`python -m bench scale`: what the saga log's size costs.

For each backend and log size: restart time, the read RPCs' latency, then recovery of 10,000
unfinished sagas and the orchestrator's RSS over a long run (run_backend says how). Writes
`scale-<stamp>.json` and `.png` into --out (bench/results by default).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc

from bench.databases import Backend, Databases, parse_backends
from bench.scale_filters import Shape
from bench.scale_log import Log, Template, iso, seed_finished, seed_unfinished, shape_of
from bench.scale_orchestrator import (
    measure,
    orchestrator_of,
    restart,
    rss_run,
    stop,
    until_terminal,
)
from bench.stack import SystemUnderTest, local_stack
from bench.workload import Workload, collect_flights, open_peers
from flightsaga.v1 import orchestrator_pb2 as pb
from launcher.supervisor import Launcher, Service
from sagas.peers import Peers
from sagas.services import PARTICIPANTS

# Where the compensated sagas copied among the finished ones failed.
FAILED_AT = ("process_payment", "deduct_loyalty_points")


# ---- one backend ---------------------------------------------------------------------------


async def run_backend(args: argparse.Namespace, backend: Backend, dbs: Databases) -> dict[str, Any]:
    """One stack on one data folder, and for each log size, in increasing order, three steps.

    1. the log is grown to that many finished sagas by bulk SQL, with the orchestrator stopped:
       copies of real sagas this stack ran first (their saga, step and event rows), new ids,
       timestamps spread over the last `SEED_DAYS` days (inside the default SAGA_RETENTION, so
       retention leaves them be);
    2. the orchestrator is started again and timed until it serves (restart at this log size);
    3. BookFlight, GetSaga (random seeded sagas), ListSagas (the first page, and a page in the
       middle of the log through a page token; the first page by each filter, scale_filters),
       GetStats: each one call at a time, p50 and p95.

    Then 10,000 unfinished sagas are written into the log as a `kill -9` leaves them (the first
    step started, the dead process's leases), the orchestrator is started, and the time until
    every one is terminal is measured (recovery). Last, a long run of bookings with the
    orchestrator's RSS sampled every second. The participants' tables are not grown (their hot
    paths are key lookups)."""
    sizes = sorted(args.log_sizes)
    out: dict[str, Any] = {"backend": backend.name, "sizes": []}
    env = {"SQLITE_SYNCHRONOUS": "full"}
    with dbs.for_round(backend, "scale") as urls:
        async with local_stack(code_dir=args.code, extra_env=env, databases=urls) as sut:
            assert sut.data_dir is not None
            launcher = sut.launcher
            assert launcher is not None
            log = Log(urls["orchestrator"] if urls else f"sqlite:///{sut.data_dir}/orchestrator.db")
            svc = orchestrator_of(launcher)
            run = ScaleRun(backend.name, sut, sut.data_dir, launcher, svc, log)
            peers = open_peers(sut.addrs)
            try:
                work = await first_sagas(args, peers, len(sizes))
                await stop(svc)
                shape = shape_of(log)
                out["sizes"] = await run.grow(work, shape, sizes, args.calls)
                # What one retention batch costs on the largest log (the orchestrator stopped:
                # the batches alone), deleting the oldest seeded sagas.
                out["retention"] = await retention_batches(log.url, args.retention_batches)
                run.say(f"retention {out['retention']}")
                # Recovery of unfinished sagas left by a kill -9.
                if args.recovery:
                    recovery = await run.recover(work, shape.completed[0], args.recovery, sizes[-1])
                    out["recovery"] = recovery
                else:
                    await restart(launcher, svc)
                    work.peers = open_peers(sut.addrs)
                if args.rss_sagas:
                    out["rss"] = await run.rss(work, args.rss_sagas, args.concurrency)
                await work.peers.close()
                out["participants"] = participant_disk(sut.data_dir, urls)
                run.say(f"participants {out['participants']}")
            finally:
                await peers.close()
    return out


async def first_sagas(args: argparse.Namespace, peers: Peers, sizes: int) -> LongWorkload:
    """The workload of the whole run, once it has booked the sagas the log is grown from:
    `--templates` that complete and one failing at each step."""
    pool = await collect_flights(peers, dates=120)
    need = args.templates + sizes * args.calls + args.recovery + args.rss_sagas + len(FAILED_AT)
    work = LongWorkload(peers, pool.sample(need, seed=3))
    for _ in range(args.templates):
        await work.book()
    for step_name in FAILED_AT:
        await work.book(fail_at=step_name)
    return work


@dataclass
class ScaleRun:
    """One backend's stack, and its orchestrator's saga log (opened directly while stopped)."""

    name: str  # the backend's, at the start of every line printed
    sut: SystemUnderTest
    data_dir: Path
    launcher: Launcher
    svc: Service
    log: Log

    def say(self, line: str) -> None:
        print(f"[{self.name}] {line}", flush=True)

    async def grow(
        self, work: Workload, shape: Shape, sizes: list[int], calls: int
    ) -> list[dict[str, Any]]:
        """For each size, in order: the log grown to it, the orchestrator restarted (timed) and
        measured, then stopped again; -> a row per size."""
        rows = []
        real = len(shape.completed) + len(shape.failed)
        empty_bytes = self.log.size_bytes()
        seeded = 0
        for size in sizes:
            took = seed_finished(self.log, shape, seeded, size, sizes[-1])
            self.say(f"seeded {size - seeded} sagas in {took:.1f} s")
            seeded = size
            disk = self.log.size_bytes()
            restart_s = await restart(self.launcher, self.svc)
            peers_fresh = open_peers(self.sut.addrs)
            work.peers = peers_fresh
            try:
                figures = await measure(peers_fresh, work, self.log, shape, size, calls)
            except grpc.aio.AioRpcError:
                self._say_failure()
                raise
            await peers_fresh.close()
            row = {
                "size": size,
                "seed_s": took,
                "restart_s": restart_s,
                "log_bytes": disk,
                "bytes_per_saga": (disk - empty_bytes) / (size + real),
                **figures,
            }
            rows.append(row)
            self.say(json.dumps(row))
            await stop(self.svc)
        return rows

    def _say_failure(self) -> None:
        """A measured call failed: the orchestrator's state and its log's non-saga lines."""
        print("FAILED", self.sut.addrs, self.svc.proc and self.svc.proc.returncode, flush=True)
        for f in self.data_dir.rglob("orchestrator.log"):
            for line in f.read_text().splitlines():
                if "[SAGA" not in line and "[QUEUE" not in line:
                    print("==", line[:300], flush=True)

    async def recover(
        self, work: Workload, template: Template, sagas: int, log_size: int
    ) -> dict[str, Any]:
        """`sagas` unfinished sagas as a kill -9 leaves them, then the orchestrator started:
        how long until it serves, and until every one of them is terminal."""
        flights = [pool_flight for pool_flight in _flights(work, sagas)]
        seed_unfinished(self.log, template, flights, "local-orchestrator", sagas)
        began = time.perf_counter()
        serve_s = await restart(self.launcher, self.svc)
        peers_fresh = open_peers(self.sut.addrs)
        await until_terminal(peers_fresh)
        recovery: dict[str, Any] = {
            "sagas": sagas,
            "log_size": log_size,
            "serving_s": serve_s,
            "all_terminal_s": time.perf_counter() - began,
        }
        s = await peers_fresh.orchestrator.GetStats(pb.GetStatsRequest(), timeout=30)
        recovery["outcome"] = {
            "completed": s.completed,
            "compensated": s.compensated,
            "failed": s.failed,
        }
        self.say(f"recovery {json.dumps(recovery)}")
        work.peers = peers_fresh
        return recovery

    async def rss(self, work: Workload, sagas: int, concurrency: int) -> list[Any]:
        """A long run of bookings, the orchestrator's RSS sampled every second."""
        assert self.svc.proc is not None
        samples = await rss_run(work.peers, work, self.svc.proc.pid, sagas, concurrency)
        self.say(
            f"RSS {samples[0][2]} -> {samples[-1][2]} kB over "
            f"{samples[-1][0]} sagas in {samples[-1][1]:.0f} s"
        )
        return samples


async def retention_batches(url: str, batches: int, size: int = 500) -> dict[str, Any]:
    from orchestrator.engine.store import SagaStore

    store = SagaStore(url if url.startswith("postgres") else Path(url.removeprefix("sqlite:///")))
    await store.open()
    ms: list[float] = []
    short: dict[str, float] | None = None  # a last batch the log had too few sagas to fill
    try:
        for _ in range(batches):
            began = time.perf_counter()
            done = await store.prune(iso(datetime.now(UTC)), size)
            took = (time.perf_counter() - began) * 1000
            if done is None:  # nobody else prunes this log: the lock was not free
                raise RuntimeError("retention: another pruner holds the saga log")
            if done.sagas < size:  # not a full batch: shown apart, and nothing left to time
                short = {"sagas": done.sagas, "ms": took}
                break
            ms.append(took)
    finally:
        await store.close()
    median = statistics.median(ms) if ms else None
    return {"batch": size, "ms": ms, "median_ms": median, "short_batch": short}


def participant_disk(data_dir: Path, urls: dict[str, str] | None) -> dict[str, Any]:
    """Each participant's database size and barrier marks, for disk per saga."""
    out: dict[str, Any] = {}
    for module in (p.package for p in PARTICIPANTS):
        log = Log(urls[module] if urls else f"sqlite:///{data_dir}/{module}.db")
        marks = int(log.query("SELECT COUNT(*) FROM saga_barrier")[0][0])
        if log.pg:
            size = log.size_bytes()
        else:
            path = data_dir / f"{module}.db"
            size = sum(p.stat().st_size for p in data_dir.glob(path.name + "*") if p.is_file())
        out[module] = {"bytes": size, "barrier_marks": marks}
    return out


class LongWorkload(Workload):
    """One loyalty point per booking (the account's 250,000 last 250,000 bookings)."""

    def request(self) -> pb.BookFlightRequest:
        req = super().request()
        req.loyalty_points = 1
        return req


def _flights(work: Workload, n: int) -> list[str]:
    return [work.flights.take() for _ in range(n)]


# ---- report --------------------------------------------------------------------------------


def write_chart(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    ax = axes[0]
    for r in results:
        sizes = [row["size"] for row in r["sizes"]]
        for key, label in (
            ("book", "BookFlight"),
            ("get_saga", "GetSaga"),
            ("list_first", "ListSagas first page"),
            ("list_deep", "ListSagas deep page"),
            ("stats", "GetStats"),
        ):
            ax.plot(sizes, [row[key]["p50"] for row in r["sizes"]], marker="o",
                    label=f"{label} ({r['backend']})")  # fmt: skip
        ax.plot(sizes, [row["restart_s"] * 1000 for row in r["sizes"]], marker="s",
                linestyle="--", label=f"restart until serving ({r['backend']})")  # fmt: skip
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("finished sagas in the log")
    ax.set_ylabel("p50 ms (restart: ms)")
    ax.set_title("Cost against the saga log's size")
    ax.legend(fontsize=7)
    ax = axes[1]
    for r in results:
        if r.get("rss"):
            ax.plot([s[0] for s in r["rss"]], [s[2] / 1024 for s in r["rss"]],
                    label=r["backend"])  # fmt: skip
    ax.set_xlabel("sagas booked in the run")
    ax.set_ylabel("orchestrator RSS (MiB)")
    ax.set_ylim(bottom=0)
    ax.set_title("Orchestrator RSS over a long run")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench scale", description=__doc__.splitlines()[0])
    p.add_argument("--log-sizes", default="10000,100000",
                   type=lambda v: [int(x) for x in v.split(",") if x])  # fmt: skip
    p.add_argument("--database", action="append", default=[], help="sqlite, postgres")
    p.add_argument("--calls", type=int, default=100, help="calls of each kind per log size")
    p.add_argument("--templates", type=int, default=20, help="real sagas copied into the log")
    p.add_argument("--recovery", type=int, default=10000, help="unfinished sagas to recover")
    p.add_argument("--rss-sagas", type=int, default=10000, help="bookings in the RSS run")
    p.add_argument("--concurrency", type=int, default=16, help="of the RSS run")
    p.add_argument("--out", type=Path, default=Path("bench/results"))
    p.add_argument("--retention-batches", type=int, default=5, help="timed, of 500 sagas")
    p.add_argument("--code", type=Path, help="run the services from this source folder")
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse(argv)
    backends = parse_backends(args.database)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    dbs = Databases(stamp)
    dbs.open(backends)
    results = []
    try:
        for backend in backends:
            results.append(asyncio.run(run_backend(args, backend, dbs)))
    finally:
        dbs.close()
    args.out.mkdir(parents=True, exist_ok=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()  # fmt: skip
    report = {"stamp": stamp, "commit": commit, "args": {k: str(v) for k, v in vars(args).items()},
              "results": results}  # fmt: skip
    (args.out / f"scale-{stamp}.json").write_text(json.dumps(report, indent=1))
    write_chart(results, args.out / f"scale-{stamp}.png")
    print(f"wrote {args.out}/scale-{stamp}.json and .png", file=sys.stderr)
    return 0
