"""`python -m bench engine`: the saga engine's own CPU per saga, with no gRPC at all.

What this measures is what the orchestrator adds to its gRPC calls. Compare with
`python -m bench --modes saga,relay`: the relay column is the floor of the orchestrator's gRPC
calls; the orchestrator's CPU is roughly that floor plus this figure plus the API layer
(validation, the reply, interceptors). `--database postgres` runs the saga log on a throwaway
PostgreSQL cluster instead of a SQLite file, and counts the statements a saga sends it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:  # at run time only the measuring child process imports the engine (_round)
    from orchestrator.bookings_log import BookingsLog
    from orchestrator.engine.runner import SagaRunner
    from orchestrator.engine.store import SagaStore

PARTS = ("sink", "observers", "logging")
# A reply of the size and shape the participants send (what the saga log keeps per step).
REPLY = {
    "saga_id": "0" * 32,
    "fare_cents": 12345,
    "currency": "USD",
    "seats": [{"flight_id": "FS100-20261201", "seat": "12A", "cabin_class": "ECONOMY"}],
    "points_deducted": 10,
    "value_cents": 10,
    "transaction_id": "txn-0123456789abcdef",
    "booking_reference": "FS-ABC123",
}


async def _measure(
    n: int, concurrency: int, parts: set[str], data: Path, url: str = ""
) -> dict[str, Any]:
    """In this process: n sagas at `concurrency`, after a warm-up; CPU of the whole process,
    and each saga's time from start to end (its p50). `url`: a PostgreSQL saga log."""
    async with _engine(parts, data, url) as saga:
        took: list[float] = []

        async def timed() -> None:
            t0 = time.perf_counter()
            await saga()
            took.append(time.perf_counter() - t0)

        for _ in range(min(100, n)):
            await timed()
        took.clear()
        sent = _statements()
        left = iter(range(n))

        async def worker() -> None:
            for _ in left:
                await timed()

        wall0, cpu0 = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        statements = (_statements() - sent) / n
    return {
        "sagas_per_s": n / wall,
        "cpu_ms_per_saga": cpu * 1000 / n,
        "p50_ms": statistics.median(took) * 1000,
        "statements_per_saga": statements,
    }


@contextlib.asynccontextmanager
async def _engine(
    parts: set[str], data: Path, url: str
) -> AsyncIterator[Callable[[], Awaitable[None]]]:
    """The engine, running: yields a function that runs one saga to its end.

    The flight saga's definition (four steps, same names) runs on the real runner and saga log
    (SQLite file, `synchronous=FULL`, group commit, or `url`), with steps that answer at once
    with a reply shaped like the participants' (no network, no other process): five durable
    transactions and ten events per saga, leases, the driver's bookkeeping, and in `parts` the
    parts the orchestrator runs beside the engine: the bookings log (`sink`), counts and
    Prometheus (`observers`), and INFO logging to a file (`logging`)."""
    from flightsaga.v1 import orchestrator_pb2 as pb
    from orchestrator.bookings_log import BookingsLog
    from orchestrator.engine.store import SagaStore
    from sagas.booking import NAME

    if "logging" in parts:
        _log_to_file(data / "service.log")
    sink = BookingsLog(data / "bookings.jsonl") if "sink" in parts else None
    store = SagaStore(url or data / "orchestrator.db", outbox=sink is not None, writer="bench")
    await store.open()
    runner = _runner(parts, store, sink)
    await runner.reopen()
    runner.recover_in_background()
    request = pb.BookFlightRequest(flight_ids=["FS100-20261201"], customer_id="LOY-1004")
    request.card.number, request.card.token = "****4242", "tok_0123456789"
    payload = request.SerializeToString()

    async def saga() -> None:
        new = runner.new_saga(NAME, uuid.uuid4().hex, uuid.uuid4().hex, payload)
        started, _ = await runner.start(new)
        done = await runner.wait(started.saga_id, None)
        assert done is not None and done.status.value == "COMPLETED", done

    try:
        yield saga
    finally:
        await runner.stop(5.0)
        await store.close()
        if sink is not None:
            sink.close()


def _runner(parts: set[str], store: SagaStore, sink: BookingsLog | None) -> SagaRunner:
    """The real runner over the flight saga's four steps, with steps that answer at once, and
    the counts and Prometheus observers when `parts` has them."""
    from orchestrator.engine.definition import RetryPolicy, SagaDefinition, StepCall, StepSpec
    from orchestrator.engine.observer import Observers
    from orchestrator.engine.runner import RunnerSettings, SagaRunner
    from orchestrator.telemetry.counts import SagaCounts
    from orchestrator.telemetry.metrics import SagaMetrics
    from sagakit.metrics import Metrics
    from sagas.booking import NAME, STEP_ORDER

    async def answer(call: StepCall) -> dict[str, Any]:
        await asyncio.sleep(0)  # a participant call yields to the loop at least once
        return dict(REPLY)

    async def undo(call: StepCall) -> dict[str, Any]:
        return {}

    definition = SagaDefinition(
        name=NAME,
        steps=tuple(StepSpec(s, answer, undo, 5.0, RetryPolicy()) for s in STEP_ORDER),
        summarize=lambda results: {"booking_reference": REPLY["booking_reference"]},
    )
    counts = SagaCounts()
    observers = Observers([counts] if "observers" in parts else [])
    runner = SagaRunner(store, [definition], RunnerSettings(), sink=sink, observer=observers)
    if "observers" in parts:
        observers.observers.append(SagaMetrics(Metrics("orchestrator"), counts, runner.driving))
    return runner


def _log_to_file(path: Path) -> None:
    """The services log to stderr; here stderr goes to a file, as under the launcher."""
    from sagakit.logs import setup_logging

    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 2)
    setup_logging("orchestrator")


_SENT = [0]


def _count_statements() -> None:
    """Count the statements psycopg sends (execute), COMMITs included: on PostgreSQL each is
    a round trip the saga log's writer thread waits for."""
    import psycopg

    execute, commit = psycopg.Connection.execute, psycopg.Connection.commit

    def counted_execute(self: Any, *args: Any, **kwargs: Any) -> Any:
        _SENT[0] += 1
        return execute(self, *args, **kwargs)

    def counted_commit(self: Any) -> None:
        _SENT[0] += 1
        commit(self)

    psycopg.Connection.execute = counted_execute  # type: ignore[method-assign]
    psycopg.Connection.commit = counted_commit  # type: ignore[method-assign]


def _statements() -> int:
    return _SENT[0]


def _child(argv: list[str]) -> int:
    """`python -m bench engine --child N C parts`: one measurement, as JSON on stdout."""
    from sagakit.server import run_loop

    n, concurrency = int(argv[0]), int(argv[1])
    parts = set(filter(None, argv[2].split(","))) if len(argv) > 2 else set()
    url = argv[3] if len(argv) > 3 else ""
    if url:
        _count_statements()
    out: dict[str, Any] = {}

    async def main() -> None:
        with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp:
            out.update(await _measure(n, concurrency, parts, Path(tmp), url))

    run_loop(main())
    print(json.dumps(out), flush=True)
    return 0


def _configs(spec: str) -> list[tuple[str, ...]]:
    """'none,sink,all' -> [(), ('sink',), PARTS]."""
    out: list[tuple[str, ...]] = []
    for item in spec.split(","):
        item = item.strip()
        if item == "none":
            out.append(())
        elif item == "all":
            out.append(PARTS)
        elif item in PARTS:
            out.append((item,))
        else:
            raise ValueError(f"--with: {item!r} is not one of none, all, {', '.join(PARTS)}")
    return out


def _round(args: argparse.Namespace, config: tuple[str, ...], url: str) -> dict[str, float]:
    """One measurement in a fresh process."""
    cmd = [sys.executable, "-m", "bench", "engine", "--child"]
    cmd += [str(args.sagas), str(args.concurrency), ",".join(config), url]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(done.stderr[-2000:], file=sys.stderr)
        raise RuntimeError(f"bench engine: {' '.join(config) or 'engine alone'} failed")
    return cast(dict[str, float], json.loads(done.stdout.strip().splitlines()[-1]))


def _print(
    args: argparse.Namespace, results: dict[tuple[str, ...], list[dict[str, float]]]
) -> None:
    print(
        f"saga engine alone (no gRPC), saga log on {args.database}: {args.sagas} sagas at "
        f"concurrency {args.concurrency}, medians of {args.repeat} rounds"
    )
    print(f"  {'with':<28} {'sagas/s':>8} {'CPU ms/saga':>12} {'p50 ms':>8} {'stmts/saga':>10}")
    for config, rows in results.items():
        rate = statistics.median(r["sagas_per_s"] for r in rows)
        cpu = statistics.median(r["cpu_ms_per_saga"] for r in rows)
        p50 = statistics.median(r["p50_ms"] for r in rows)
        sent = statistics.median(r["statements_per_saga"] for r in rows)
        label = ", ".join(config) or "engine alone"
        stmts = f"{sent:10.1f}" if args.database == "postgres" else f"{'-':>10}"
        print(f"  {label:<28} {rate:8.0f} {cpu:12.3f} {p50:8.2f} {stmts}")


def main(argv: list[str]) -> int:
    """Each configuration runs in a fresh process of its own, rounds alternating, so the figures
    compare within one run (this machine's noise is 10-30 %)."""
    if argv[:1] == ["--child"]:
        return _child(argv[1:])
    p = argparse.ArgumentParser(
        prog="python -m bench engine",
        description="The saga engine's CPU per saga, alone (no gRPC): see bench/engine.py.",
    )
    p.add_argument("-n", "--sagas", type=int, default=3000, help="sagas per measurement")
    p.add_argument("-c", "--concurrency", type=int, default=32)
    p.add_argument("--repeat", type=int, default=3, help="rounds (a fresh process each); medians")
    p.add_argument(
        "--with",
        dest="parts",
        default="none,all",
        help=f"comma-separated configurations: none, all, or one of {', '.join(PARTS)} "
        "(default none,all)",
    )
    p.add_argument(
        "--database",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="the saga log: a SQLite file (default) or a throwaway PostgreSQL cluster",
    )
    args = p.parse_args(argv)
    try:
        configs = _configs(args.parts)
    except ValueError as exc:
        p.error(str(exc))
    if args.sagas < 1 or args.concurrency < 1 or args.repeat < 1:
        p.error("--sagas, --concurrency and --repeat must be at least 1")
    results: dict[tuple[str, ...], list[dict[str, float]]] = {c: [] for c in configs}
    with _databases(args.database) as new_database:
        try:
            for _ in range(args.repeat):
                for config in configs:
                    results[config].append(_round(args, config, new_database()))
        except RuntimeError as exc:
            print(exc, file=sys.stderr)
            return 1
    _print(args, results)
    return 0


@contextlib.contextmanager
def _databases(kind: str) -> Iterator[Callable[[], str]]:
    """A fresh saga log's URL for each round ("" for a SQLite file in the round's temp dir)."""
    if kind == "sqlite":
        yield lambda: ""
        return
    from tooling.pgcluster import start_cluster

    cluster = start_cluster()
    try:
        yield lambda: cluster.new_database("bench_engine")
    finally:
        cluster.destroy()
