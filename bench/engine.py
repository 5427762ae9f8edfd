"""`python -m bench engine`: the saga engine's own CPU per saga, with no gRPC at all.

What this measures is what the orchestrator adds to its gRPC calls. Compare with
`python -m bench --modes saga,relay`: the relay column is the floor of the orchestrator's gRPC
calls; the orchestrator's CPU is roughly that floor plus this figure plus the API layer
(validation, the reply, interceptors).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

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


async def _measure(n: int, concurrency: int, parts: set[str], data: Path) -> dict[str, Any]:
    """In this process: n sagas at `concurrency`, after a warm-up; CPU of the whole process.

    The flight saga's definition (four steps, same names) runs on the real runner and saga log
    (SQLite file, `synchronous=FULL`, group commit), with steps that answer at once with a reply
    shaped like the participants' (no network, no other process): five durable transactions and
    ten events per saga, leases, the driver's bookkeeping, and in `parts` the parts the
    orchestrator runs beside the engine: the bookings log (`sink`), counts and Prometheus
    (`observers`), and INFO logging to a file (`logging`)."""
    from flightsaga.v1 import orchestrator_pb2 as pb
    from orchestrator.bookings_log import BookingsLog
    from orchestrator.engine.definition import RetryPolicy, SagaDefinition, StepCall, StepSpec
    from orchestrator.engine.observer import Observers
    from orchestrator.engine.runner import RunnerSettings, SagaRunner
    from orchestrator.engine.store import SagaStore
    from orchestrator.telemetry.counts import SagaCounts
    from orchestrator.telemetry.metrics import SagaMetrics
    from sagakit.logs import setup_logging
    from sagakit.metrics import Metrics
    from sagas.booking import NAME, STEP_ORDER

    if "logging" in parts:
        # The services log to stderr; here stderr goes to a file, as under the launcher.
        fd = os.open(data / "service.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 2)
        setup_logging("orchestrator")

    async def answer(call: StepCall) -> dict[str, Any]:
        await asyncio.sleep(0)  # a participant call yields to the loop at least once
        return dict(REPLY)

    async def undo(call: StepCall) -> dict[str, Any]:
        return {}

    sink = BookingsLog(data / "bookings.jsonl") if "sink" in parts else None
    store = SagaStore(data / "orchestrator.db", outbox=sink is not None, writer="bench")
    await store.open()
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

    for _ in range(min(100, n)):
        await saga()
    left = iter(range(n))

    async def worker() -> None:
        for _ in left:
            await saga()

    wall0, cpu0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    await runner.stop(5.0)
    await store.close()
    if sink is not None:
        sink.close()
    return {"sagas_per_s": n / wall, "cpu_ms_per_saga": cpu * 1000 / n}


def _child(argv: list[str]) -> int:
    """`python -m bench engine --child N C parts`: one measurement, as JSON on stdout."""
    from sagakit.server import run_loop

    n, concurrency = int(argv[0]), int(argv[1])
    parts = set(filter(None, argv[2].split(","))) if len(argv) > 2 else set()
    out: dict[str, Any] = {}

    async def main() -> None:
        with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp:
            out.update(await _measure(n, concurrency, parts, Path(tmp)))

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
    args = p.parse_args(argv)
    try:
        configs = _configs(args.parts)
    except ValueError as exc:
        p.error(str(exc))
    if args.sagas < 1 or args.concurrency < 1 or args.repeat < 1:
        p.error("--sagas, --concurrency and --repeat must be at least 1")
    results: dict[tuple[str, ...], list[dict[str, float]]] = {c: [] for c in configs}
    for _ in range(args.repeat):
        for config in configs:
            cmd = [sys.executable, "-m", "bench", "engine", "--child"]
            cmd += [str(args.sagas), str(args.concurrency), ",".join(config)]
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                print(done.stderr[-2000:], file=sys.stderr)
                print(f"bench engine: {' '.join(config) or 'engine alone'} failed", file=sys.stderr)
                return 1
            results[config].append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(
        f"saga engine alone (no gRPC): {args.sagas} sagas at concurrency {args.concurrency}, "
        f"medians of {args.repeat} rounds"
    )
    print(f"  {'with':<28} {'sagas/s':>8} {'CPU ms/saga':>12}")
    for config, rows in results.items():
        rate = statistics.median(r["sagas_per_s"] for r in rows)
        cpu = statistics.median(r["cpu_ms_per_saga"] for r in rows)
        label = ", ".join(config) or "engine alone"
        print(f"  {label:<28} {rate:8.0f} {cpu:12.3f}")
    return 0
