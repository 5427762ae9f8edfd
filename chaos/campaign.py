"""The campaign: phases under load, quiescence, an operator's resume, then the invariants."""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import grpc

from chaos import disrupt, invariants, plan, records, report
from chaos.stack import LocalStack, TargetStack, open_peers
from chaos.workload import Workload, flight_ids, flight_pool, pool_size
from flightsaga.v1 import orchestrator_pb2 as pb
from sagas.peers import Addrs, Peers


# The local stack's orchestrator settings. Short deadlines so that a campaign of minutes sees
# every path (timeouts, the saga deadline passing during an outage); compensations give up
# (FAILED) after 20 s, well past any outage of the campaign (at most 5 s, SIGSTOP 2.5 s), so a
# FAILED saga that was not planned is a finding. Unknown variables are ignored by older trees.
def stack_env(s: plan.Settings) -> dict[str, str]:
    return {
        "STEP_TIMEOUT_MS": str(int(s.step_timeout_s * 1000)),
        "STEP_MAX_ATTEMPTS": "3",
        "SAGA_TIMEOUT_S": str(s.saga_timeout_s),
        "COMPENSATION_RETRY_FOR_S": "20",
        "COMPENSATION_BACKOFF_CAP_S": "2",
        "LOG_LEVEL": "info",
    }


@dataclass
class Options:
    settings: plan.Settings
    concurrency: int = 16
    client_timeout_s: float = 20.0
    settle_s: float = 180.0  # longest wait for quiescence at the end
    data_dir: Path | None = None  # local stack: where the databases and logs go
    code_dir: Path | None = None  # local stack: run the services from this source tree
    target: Addrs | None = None  # no local stack: this deployment
    env: dict[str, str] = field(default_factory=dict)  # extra environment for the services
    report_path: Path | None = None
    out: TextIO = sys.stdout


@dataclass
class PhaseRun:
    phase: plan.Phase
    started: int = 0
    seconds: float = 0.0
    error: str = ""


class CampaignError(Exception):
    """The campaign could not run (a service did not restart, the stack is unreachable)."""


def say(opts: Options, line: str) -> None:
    print(line, file=opts.out, flush=True)


async def _stats(peers: Peers) -> pb.Stats | None:
    try:
        stats: pb.Stats = await peers.orchestrator.GetStats(pb.GetStatsRequest(), timeout=5)
    except grpc.aio.AioRpcError:
        return None
    return stats


async def quiesce(peers: Peers, limit_s: float, stall_s: float, forward_only: bool) -> pb.Stats:
    """Until no saga is live (with `forward_only`: none RUNNING), or nothing has changed for
    `stall_s` (stuck sagas do not hold the campaign forever), or `limit_s` passed."""
    end = time.monotonic() + limit_s
    last: tuple[int, ...] = ()
    since = time.monotonic()
    stats = pb.Stats()
    while time.monotonic() < end:
        got = await _stats(peers)
        if got is not None:
            stats = got
            live = stats.running + (0 if forward_only else stats.compensating)
            if live == 0:
                return stats
            now = (
                stats.running,
                stats.compensating,
                stats.completed,
                stats.compensated,
                stats.failed,
                stats.steps_executing,
                stats.compensations_pending,
            )
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= stall_s:
                return stats
        await asyncio.sleep(0.25)
    return stats


async def in_flight(peers: Peers, limit_s: float) -> bool:
    """Until some saga is RUNNING (False if none within limit_s)."""
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        stats = await _stats(peers)
        if stats is not None and stats.running > 0:
            return True
        await asyncio.sleep(0.05)
    return False


def _bookings(phase: plan.Phase, settings: plan.Settings) -> Iterator[plan.BookingSpec]:
    if not settings.duration:
        yield from phase.bookings
        return
    n = 0
    while True:  # the workload stops drawing once the phase's time is up
        yield plan.nth_booking(settings, phase.index, phase.kind, n)
        n += 1


async def run_phase(
    opts: Options, stack: LocalStack | TargetStack, workload: Workload, phase: plan.Phase
) -> PhaseRun:
    s = opts.settings
    stack.phase = phase.label  # unique: several phases may share a name
    run = PhaseRun(phase)
    trigger = asyncio.Event()
    t0 = time.monotonic()
    n = len(phase.bookings)
    load = asyncio.create_task(
        workload.run(
            _bookings(phase, s),
            trigger_after=max(1, int(n * phase.trigger)) if not s.duration else None,
            deadline_s=phase.seconds if s.duration else None,
            trigger=trigger,
        )
    )

    async def chaos() -> None:
        if s.duration:
            await asyncio.sleep(phase.seconds * phase.trigger)
        else:
            await trigger.wait()
        # Strike while sagas are in flight: started calls may not have reached the log yet.
        await in_flight(workload.peers, limit_s=5.0)
        if isinstance(stack, LocalStack):
            await disrupt.disrupt(stack, phase)

    try:
        _, run.started = await asyncio.gather(chaos(), load)
    except BaseException:
        load.cancel()
        raise
    run.seconds = round(time.monotonic() - t0, 2)
    return run


async def resume_stuck(peers: Peers, sagas: dict[str, records.SagaView]) -> dict[str, str]:
    """What an operator does: ResumeSaga (dropping injected faults) on every FAILED or stuck
    saga. Returns saga id -> its status before the resume."""
    todo = {sid: s.status for sid, s in sagas.items() if s.status not in records.TERMINAL}

    async def one(sid: str) -> None:
        try:
            await peers.orchestrator.ResumeSaga(
                pb.ResumeSagaRequest(saga_id=sid, clear_faults=True), timeout=30
            )
        except grpc.aio.AioRpcError:
            pass  # the final check reports a saga that still is not terminal

    await records.bounded(list(todo), one, 8)
    return todo


def bookings_log_ids(path: Path) -> set[str]:
    ids: set[str] = set()
    if not path.exists():
        return ids
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue  # a torn last line after a kill: the saga then counts as missing
        sid = row.get("saga_id") or row.get("sagaId")
        if isinstance(sid, str):
            ids.add(sid)
    return ids


async def run(opts: Options) -> dict[str, Any]:
    """The whole campaign; returns the report (also written to opts.report_path)."""
    s = opts.settings
    the_plan = plan.build(s)
    stack: LocalStack | TargetStack
    if opts.target is None:
        assert opts.data_dir is not None
        stack = LocalStack(opts.data_dir, {**stack_env(s), **opts.env}, opts.code_dir)
        say(
            opts,
            f"starting a local stack (data in {opts.data_dir}"
            + (f", code from {opts.code_dir}" if opts.code_dir else "")
            + ")",
        )
    else:
        stack = TargetStack(opts.target)
    for why in the_plan.skipped:
        say(opts, f"SKIPPED {why}")
    t_start = time.monotonic()
    await stack.start()
    peers = open_peers(stack.addrs)
    try:
        return await _campaign(opts, the_plan, stack, peers, t_start)
    finally:
        await peers.close()
        await stack.stop()


@dataclass(frozen=True)
class Before:
    """What the stack held before the campaign: its sagas, the pool's flights, the balances."""

    sagas: dict[str, records.SagaView]
    flights: dict[str, records.FlightView]
    balances: dict[str, int]


async def _before(stack: LocalStack | TargetStack, peers: Peers, pool: list[str]) -> Before:
    try:
        sagas = await records.list_sagas(peers)
        flights = await records.read_flights(peers, pool)
        balances = await records.read_balances(peers, [a for a, _ in plan.ACCOUNTS])
    except grpc.aio.AioRpcError as exc:
        raise CampaignError(
            f"cannot read the stack at {stack.addrs}: {exc.code().name}: {exc.details()}"
        ) from exc
    return Before(sagas, flights, balances)


async def _campaign(
    opts: Options,
    the_plan: plan.Plan,
    stack: LocalStack | TargetStack,
    peers: Peers,
    t_start: float,
) -> dict[str, Any]:
    s = opts.settings
    expected = s.sagas if not s.duration else int(s.duration * 80)
    try:
        pool = await flight_pool(peers, pool_size(expected))
    except grpc.aio.AioRpcError as exc:
        raise CampaignError(
            f"cannot read the stack at {stack.addrs}: {exc.code().name}: {exc.details()}"
        ) from exc
    before = await _before(stack, peers, pool)
    run_id = f"{s.seed}-{secrets.token_hex(3)}"
    workload = Workload(peers, pool, run_id, opts.client_timeout_s, opts.concurrency)
    say(
        opts,
        f"campaign {run_id}: {len(the_plan.phases)} phases, "
        + (f"{s.duration:.0f}s of load" if s.duration else f"{the_plan.bookings} bookings")
        + f", {the_plan.kills} kill -9, concurrency {opts.concurrency}, {len(pool)} flights",
    )
    runs = await _phases(opts, the_plan, stack, workload, peers)
    live_before_resume = await _settle(opts, stack, peers, before)
    say(opts, "-- reading every service's records")
    ev = await _evidence(stack, peers, workload, pool, before, run_id)
    return report.build(
        the_plan,
        runs,
        ev,
        invariants.check(ev),
        live_before_resume,
        stack.events,
        run_id=run_id,
        addrs=stack.addrs,
        code_dir=opts.code_dir,
        data_dir=opts.data_dir if isinstance(stack, LocalStack) else None,
        env=stack_env(s) | opts.env if isinstance(stack, LocalStack) else {},
        seconds=time.monotonic() - t_start,
        concurrency=opts.concurrency,
    )


async def _phases(
    opts: Options,
    the_plan: plan.Plan,
    stack: LocalStack | TargetStack,
    workload: Workload,
    peers: Peers,
) -> list[PhaseRun]:
    """Each phase of the plan in turn, waiting between them for the forward paths to end."""
    runs: list[PhaseRun] = []
    for phase in the_plan.phases:
        say(
            opts,
            f"-- phase {phase.index + 1}/{len(the_plan.phases)}: {phase.name}"
            + (f" (outage {phase.outage_s:.1f}s)" if phase.outage_s else ""),
        )
        try:
            runs.append(await run_phase(opts, stack, workload, phase))
        except Exception as exc:
            raise CampaignError(f"phase {phase.name} could not run: {exc}") from exc
        limit = opts.settings.saga_timeout_s + 5
        await quiesce(peers, limit_s=limit, stall_s=3.0, forward_only=True)
    return runs


async def _settle(
    opts: Options, stack: LocalStack | TargetStack, peers: Peers, before: Before
) -> dict[str, Any]:
    """Wait for quiescence, then resume what is FAILED or stuck as an operator would; returns
    those sagas and their status before the resume."""
    stack.phase = "settle"
    say(opts, "-- waiting for quiescence")
    stall = max(30.0, 2 * opts.settings.saga_timeout_s)
    await quiesce(peers, opts.settle_s, stall, forward_only=False)
    mid = await records.list_sagas(peers)
    stuck = {
        sid: v.status
        for sid, v in mid.items()
        if v.status not in records.TERMINAL and sid not in before.sagas
    }
    say(
        opts, f"-- resuming {len(stuck)} FAILED or stuck sagas (clear_faults), as an operator would"
    )
    await resume_stuck(peers, {sid: mid[sid] for sid in stuck})
    await quiesce(peers, opts.settle_s, stall, forward_only=False)
    return stuck


async def _evidence(
    stack: LocalStack | TargetStack,
    peers: Peers,
    workload: Workload,
    pool: list[str],
    before: Before,
    run_id: str,
) -> invariants.Evidence:
    """Every service's records of the campaign's sagas, beside what the workload sent."""
    final = await records.list_sagas(peers)
    ours = [sid for sid in final if sid not in before.sagas]
    return invariants.Evidence(
        sagas=final,
        records=await records.read_participants(peers, ours),
        specs=workload.specs,
        legs={k: flight_ids(spec, pool) for k, spec in workload.specs.items()},
        calls=workload.calls,
        key_prefix=f"chaos-{run_id}-",
        flights_before=before.flights,
        flights_after=await records.read_flights(peers, pool),
        balances_before=before.balances,
        balances_after=await records.read_balances(peers, before.balances),
        preexisting=frozenset(before.sagas),
        bookings_log=bookings_log_ids(stack.bookings_log())
        if isinstance(stack, LocalStack)
        else None,
    )
