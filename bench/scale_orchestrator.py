"""The orchestrator `python -m bench scale` measures: its process (stopped, restarted and timed
until it serves, its RSS) and the calls timed against it (the read RPCs, BookFlight, a long
run of bookings)."""

from __future__ import annotations

import asyncio
import random
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc

from bench.scale_filters import Shape, filters, measure_filters
from bench.scale_log import Log
from bench.workload import Workload
from flightsaga.v1 import orchestrator_pb2 as pb
from launcher.ports import owns_port
from launcher.supervisor import Launcher, Service
from orchestrator import page_tokens
from sagakit.healthprobe import is_serving
from sagas.peers import Peers

# ---- the orchestrator process --------------------------------------------------------------


def orchestrator_of(launcher: Launcher) -> Service:
    return next(s for s in launcher.services if s.module == "orchestrator")


async def serving(addr: str) -> None:
    async with grpc.aio.insecure_channel(addr) as channel:
        while True:
            if await is_serving(channel, 0.5):
                return
            await asyncio.sleep(0.02)


async def stop(svc: Service, kill: bool = False) -> None:
    assert svc.proc is not None
    if kill:
        svc.proc.kill()
    else:
        svc.proc.terminate()
    await svc.proc.wait()


async def restart(launcher: Launcher, svc: Service) -> float:
    """Start the orchestrator; seconds until it serves."""
    began = time.perf_counter()
    await launcher.spawn(svc)
    await asyncio.wait_for(serving(svc.addr), 600)
    took = time.perf_counter() - began
    assert svc.proc is not None
    # SERVING from this process, not from another that took the port meanwhile.
    if svc.proc.returncode is not None or not owns_port(svc.proc.pid, svc.port):
        raise RuntimeError(f"the restarted orchestrator does not own {svc.addr}")
    return took


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# ---- measurements --------------------------------------------------------------------------


async def timed(n: int, call: Callable[[int], Awaitable[Any]]) -> dict[str, float]:
    """`n` calls one at a time: p50 and p95 in ms."""
    ms = []
    for i in range(n):
        began = time.perf_counter()
        await call(i)
        ms.append((time.perf_counter() - began) * 1000)
    ms.sort()
    return {"p50": statistics.median(ms), "p95": ms[int(len(ms) * 0.95) - 1]}


async def measure(
    peers: Peers, work: Workload, log: Log, shape: Shape, size: int, calls: int
) -> dict[str, Any]:
    o = peers.orchestrator
    # Channels share subchannels: the one to the stopped process may still be backing off.
    await o.GetStats(pb.GetStatsRequest(), timeout=60, wait_for_ready=True)
    rng = random.Random(size)
    ids = [uuid.UUID(int=rng.randrange(size) + 1).hex for _ in range(calls)]
    middle = log.query(
        "SELECT created_at, saga_id FROM sagas WHERE saga_id=?", (uuid.UUID(int=size // 2).hex,)
    )[0]
    token = page_tokens.encode((str(middle[0]), str(middle[1])), "")

    async def get(i: int) -> None:
        saga = await o.GetSaga(pb.GetSagaRequest(saga_id=ids[i]), timeout=10)
        assert saga.saga_id == ids[i]

    async def first_page(_: int) -> None:
        page = await o.ListSagas(pb.ListSagasRequest(page_size=20), timeout=10)
        assert len(page.sagas) == 20 and page.total >= size

    async def deep_page(_: int) -> None:
        page = await o.ListSagas(pb.ListSagasRequest(page_size=20, page_token=token), timeout=10)
        assert len(page.sagas) == 20

    async def stats(_: int) -> None:
        s = await o.GetStats(pb.GetStatsRequest(), timeout=10)
        assert s.total >= size

    async def book(_: int) -> None:
        await work.book()

    figures: dict[str, Any] = {
        "book": await timed(calls, book),
        "get_saga": await timed(calls, get),
        "list_first": await timed(calls, first_page),
        "list_deep": await timed(calls, deep_page),
        "stats": await timed(calls, stats),
    }
    if shape.has_filters:
        wanted = filters(shape, size // 2 - 1, str(middle[0]))
        figures["filters"] = await measure_filters(o, timed, wanted, calls)
    return figures


async def until_terminal(peers: Peers) -> None:
    while True:
        s = await peers.orchestrator.GetStats(pb.GetStatsRequest(), timeout=60, wait_for_ready=True)
        if s.running + s.compensating == 0:
            return
        await asyncio.sleep(0.2)


async def rss_run(peers: Peers, work: Workload, pid: int, n: int, concurrency: int) -> list[Any]:
    """`n` bookings, `concurrency` at a time; (sagas booked, seconds, RSS kB) every second."""
    done = 0
    samples: list[tuple[int, float, int]] = []
    errors: list[str] = []
    began = time.perf_counter()
    todo = iter(range(n))

    async def worker() -> None:
        nonlocal done
        for _ in todo:
            try:
                await work.book()
            except Exception as exc:  # counted, not fatal: the samples so far still count
                errors.append(repr(exc)[:200])
            done += 1

    async def sampler() -> None:
        while True:
            samples.append((done, time.perf_counter() - began, rss_kb(pid)))
            await asyncio.sleep(1.0)

    await peers.orchestrator.GetStats(pb.GetStatsRequest(), timeout=60, wait_for_ready=True)
    sampling = asyncio.create_task(sampler())
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    sampling.cancel()
    samples.append((done, time.perf_counter() - began, rss_kb(pid)))
    if errors:
        print(f"{len(errors)} bookings failed in the RSS run, e.g. {errors[0]}", flush=True)
    return samples
