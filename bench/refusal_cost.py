"""`python -m bench overload --refusal-cost`: the orchestrator's CPU per refused new saga.

A local stack (SQLite) with SAGA_MAX_IN_FLIGHT=1 holds one saga (a `delay` fault), so every new
`BookFlight` is refused; `--calls` refused calls at `--clients` at a time, then as many
`ListSagaTypes` (the cheapest RPC: the gRPC and interceptor floor), for `--rounds` rounds. CPU
from /proc/<pid>/stat before and after each phase (bench/README.md "Overload").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
from collections.abc import Awaitable, Callable

import grpc

from bench.procstats import cpu_seconds, self_cpu_seconds
from bench.stack import local_stack
from bench.workload import Workload, collect_flights, open_peers
from flightsaga.v1 import orchestrator_pb2 as pb

HOLD = (("x-fault", "payment:delay=120000"),)
ENV = {"SAGA_MAX_IN_FLIGHT": "1", "STEP_TIMEOUT_MS": "150000"}
WARM_UP = 300


async def phase(
    pid: int, calls: int, clients: int, call: Callable[[], Awaitable[None]]
) -> dict[str, float]:
    """`calls` calls, `clients` at a time: ms of CPU per call, the orchestrator's and ours."""
    left = iter(range(calls))

    async def client() -> None:
        for _ in left:
            await call()

    server, ours = cpu_seconds(pid) or 0.0, self_cpu_seconds()
    await asyncio.gather(*(client() for _ in range(clients)))
    server_ms = ((cpu_seconds(pid) or 0.0) - server) * 1000 / calls
    return {"server_ms": server_ms, "client_ms": (self_cpu_seconds() - ours) * 1000 / calls}


def calls_of(work: Workload) -> dict[str, Callable[[], Awaitable[None]]]:
    orch, request = work.peers.orchestrator, work.request()  # never booked: one will do

    async def refused() -> None:
        try:
            await orch.BookFlight(request, timeout=10)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                return
            raise
        raise RuntimeError("a BookFlight was admitted: the orchestrator was not full")

    async def floor() -> None:
        await orch.ListSagaTypes(pb.ListSagaTypesRequest(), timeout=10)

    return {"refused BookFlight": refused, "ListSagaTypes": floor}


Rounds = dict[str, list[dict[str, float]]]


async def measure(a: argparse.Namespace) -> Rounds:
    async with local_stack(extra_env=ENV) as sut:
        peers = open_peers(sut.addrs)
        try:
            work = Workload(peers, await collect_flights(peers, dates=1))
            held = pb.StartBookingRequest(request_id="bench-held", booking=work.request())
            await peers.orchestrator.StartBooking(held, metadata=HOLD, timeout=10)
            pid, calls = sut.pids["orchestrator"], calls_of(work)
            for call in calls.values():
                await phase(pid, min(WARM_UP, a.calls), a.clients, call)
            rounds: Rounds = {name: [] for name in calls}
            for _ in range(a.rounds):  # alternating, so both see the machine alike
                for name, call in calls.items():
                    rounds[name].append(await phase(pid, a.calls, a.clients, call))
        finally:
            await peers.close()
    return rounds


def table(rounds: Rounds, a: argparse.Namespace) -> str:
    lines = [
        f"{a.calls} calls per round, {a.clients} at a time, {a.rounds} rounds: ms of CPU per call",
        "",
        "| call | orchestrator (each round) | median | client (median) |",
        "|---|---|---:|---:|",
    ]
    for name, got in rounds.items():
        server = [r["server_ms"] for r in got]
        lines.append(
            f"| {name} | {' / '.join(f'{x:.3f}' for x in server)} | "
            f"{statistics.median(server):.3f} | "
            f"{statistics.median(r['client_ms'] for r in got):.3f} |"
        )
    return "\n".join(lines)


def main(a: argparse.Namespace) -> int:
    rounds = asyncio.run(measure(a))
    print(table(rounds, a), flush=True)
    if a.json:
        a.json.write_text(json.dumps(rounds, indent=2))
    return 0
