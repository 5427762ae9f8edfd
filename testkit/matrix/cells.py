"""Run the matrix's cells against a stack and judge each one.

Each cell is one booking started with StartBooking (its faults in the headers), followed by
GetSaga until it stops; then its status, compensation order and every step's effect at its
participant are compared with the column's expectation, and again after a follow-up action.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import grpc

from flightsaga.v1 import orchestrator_pb2 as pb
from orchestrator.client import booking
from sagas.peers import Peers
from testkit.matrix import effects
from testkit.matrix.columns import (
    CANCEL_REASON,
    COMPENSATED,
    COMPLETED,
    FAILED,
    Column,
    Expect,
    Scenario,
)

ACCOUNT = "LOY-1004"
POINTS = 5  # > 0, so that the loyalty step has an effect to check
CARD = "4242424242424242"
POLL_S = 0.2
STOPPED = frozenset({COMPLETED, COMPENSATED, FAILED})  # where a saga waits for nobody
FINISHED = frozenset({COMPLETED, COMPENSATED})


@dataclass
class Stop:
    """Where a cell's saga stopped (at the end, or after a follow-up), against what was due."""

    label: str
    expected: Expect
    status: str = ""
    cancelled_by: str = ""
    compensations: list[str] = field(default_factory=list)
    effects: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


@dataclass
class Cell:
    step: str
    column: str
    scenario: Scenario | None  # None: not applicable (`not_applicable` says why)
    key: str = ""
    not_applicable: str = ""
    flight_id: str = ""
    saga_id: str = ""
    correlation_id: str = ""
    booking_reference: str = ""
    stops: list[Stop] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # beside the stops': errors, invariants
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return (
            self.scenario is not None
            and bool(self.stops)
            and not self.problems
            and not any(s.problems for s in self.stops)
        )


def plan_cells(
    steps: Sequence[str], columns: Sequence[Column], run_id: str, rows: Sequence[str] = ()
) -> list[Cell]:
    """One cell per (step, column), rows in saga order; `rows`: only these steps (default all).
    `steps` is always the whole saga: a cell's scenario depends on the steps around it."""
    out = []
    for k, step in enumerate(steps):
        if rows and step not in rows:
            continue
        for col in columns:
            scenario = col.scenario(k, steps)
            cell = Cell(step, col.name, None, key=f"matrix-{run_id}-{k + 1}-{col.name}")
            if isinstance(scenario, Scenario):
                cell.scenario = scenario
            else:
                cell.not_applicable = scenario.reason
            out.append(cell)
    return out


async def _resume(peers: Peers, saga_id: str, timeout: float) -> None:
    await peers.orchestrator.ResumeSaga(
        pb.ResumeSagaRequest(saga_id=saga_id, clear_faults=True), timeout=timeout
    )


async def _cancel(peers: Peers, saga_id: str, timeout: float) -> None:
    await peers.orchestrator.CancelSaga(
        pb.CancelSagaRequest(saga_id=saga_id, reason=CANCEL_REASON), timeout=timeout
    )


# What a FollowUp's or a During's `action` does, by name.
ACTIONS: dict[str, Callable[[Peers, str, float], Awaitable[None]]] = {
    "resume": _resume,
    "cancel": _cancel,
}


async def settle(peers: Peers, saga_id: str, until: frozenset[str], limit_s: float) -> pb.Saga:
    """GetSaga until the saga's status is one of `until` (or `limit_s` passed: the last read)."""
    end = time.monotonic() + limit_s
    while True:
        saga: pb.Saga = await peers.orchestrator.GetSaga(
            pb.GetSagaRequest(saga_id=saga_id), timeout=10
        )
        if pb.SagaStatus.Name(saga.status) in until or time.monotonic() >= end:
            return saga
        await asyncio.sleep(POLL_S)


async def reach(peers: Peers, saga_id: str, step: str, limit_s: float) -> None:
    """GetSaga until `step`'s Do is in flight (or the saga stopped, or `limit_s` passed)."""
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        saga: pb.Saga = await peers.orchestrator.GetSaga(
            pb.GetSagaRequest(saga_id=saga_id), timeout=10
        )
        if pb.SagaStatus.Name(saga.status) in STOPPED or any(
            s.name == step and s.state == pb.EXECUTING for s in saga.steps
        ):
            return
        await asyncio.sleep(POLL_S / 4)


async def judge(peers: Peers, steps: Sequence[str], saga: pb.Saga, stop: Stop) -> None:
    """Fill `stop` with what the orchestrator and the participants say, and what differs."""
    want = stop.expected
    stop.status = pb.SagaStatus.Name(saga.status)
    stop.cancelled_by = saga.cancelled_by
    stop.compensations = list(saga.compensation_order)
    if stop.status != want.status:
        stop.problems.append(f"status: expected {want.status}, found {stop.status} {saga.error}")
    if tuple(stop.compensations) != want.compensations:
        stop.problems.append(
            f"compensation order: expected {list(want.compensations) or 'none'}, "
            f"found {stop.compensations or 'none'}"
        )
    stop.problems += await cancel_problems(peers, saga, want.cancelled)
    records = (await effects.read(peers, [saga.saga_id]))[saga.saga_id]
    if records.read_error:
        stop.problems.append(f"participants' records unreadable: {records.read_error}")
        return
    found = effects.classify(records)
    for step, allowed in zip(steps, want.effects, strict=True):
        stop.effects[step] = found[step].value
        if found[step] not in allowed:
            stop.problems.append(
                f"{step} at its participant: expected {' or '.join(sorted(allowed))}, "
                f"found {found[step].value}"
            )


async def cancel_problems(peers: Peers, saga: pb.Saga, cancelled: bool) -> list[str]:
    """What differs in the saga's cancel (who, why, its SAGA_CANCELLED event) from `cancelled`."""
    if not cancelled:
        return [f"cancelled by {saga.cancelled_by} unexpectedly"] if saga.cancelled_by else []
    out = []
    if not saga.cancelled_by or saga.cancel_reason != CANCEL_REASON:
        out.append(
            f"cancel: expected cancelled_by set and reason {CANCEL_REASON!r}, found "
            f"{saga.cancelled_by or 'nobody'}: {saga.cancel_reason!r}"
        )
    call = peers.orchestrator.WatchSaga(pb.WatchSagaRequest(saga_id=saga.saga_id), timeout=10)
    types = [pb.SagaEventType.Name(e.type) async for e in call]
    if "SAGA_CANCELLED" not in types:
        out.append(f"events: expected SAGA_CANCELLED, found {', '.join(types) or 'none'}")
    return out


@dataclass
class Runner:
    peers: Peers
    steps: Sequence[str]
    cell_timeout_s: float = 120.0

    def request(self, cell: Cell) -> pb.StartBookingRequest:
        req = booking(
            [cell.flight_id],
            passengers=[("Matrix", cell.column.split("=")[0].title())],
            customer_id=ACCOUNT,
            points=POINTS,
            card_number=CARD,
            card_expiry=(12, 2031),
        )
        return pb.StartBookingRequest(request_id=cell.key, booking=req)

    async def run(self, cell: Cell) -> None:
        if cell.scenario is None:
            return
        t0 = time.monotonic()
        try:
            await self._drive(cell, cell.scenario)
        except grpc.aio.AioRpcError as exc:
            cell.problems.append(f"{exc.code().name}: {exc.details()}")
        cell.seconds = round(time.monotonic() - t0, 3)

    async def _drive(self, cell: Cell, sc: Scenario) -> None:
        md = [("x-correlation-id", cell.key)]
        md += [("x-fail-at", sc.fail_at)] if sc.fail_at else []
        md += [("x-fault", sc.fault)] if sc.fault else []
        saga = await self.peers.orchestrator.StartBooking(
            self.request(cell), metadata=tuple(md), timeout=30
        )
        cell.saga_id, cell.correlation_id = saga.saga_id, saga.correlation_id
        if sc.during is not None:
            await reach(self.peers, cell.saga_id, sc.during.step, self.cell_timeout_s)
            await ACTIONS[sc.during.action](self.peers, cell.saga_id, self.cell_timeout_s)
        saga = await settle(self.peers, saga.saga_id, STOPPED, self.cell_timeout_s)
        await self._stop(cell, saga, Stop("end", sc.expect))
        if sc.then is not None:
            await ACTIONS[sc.then.action](self.peers, cell.saga_id, self.cell_timeout_s)
            saga = await settle(self.peers, cell.saga_id, FINISHED, self.cell_timeout_s)
            await self._stop(cell, saga, Stop(f"after {sc.then.action}", sc.then.expect))
        cell.booking_reference = saga.booking_reference

    async def _stop(self, cell: Cell, saga: pb.Saga, stop: Stop) -> None:
        await judge(self.peers, self.steps, saga, stop)
        cell.stops.append(stop)


async def run_all(runner: Runner, cells: Sequence[Cell], concurrency: int) -> None:
    sem = asyncio.Semaphore(concurrency)

    async def one(cell: Cell) -> None:
        async with sem:
            await runner.run(cell)

    await asyncio.gather(*(one(c) for c in cells))


def saga_link(dashboard: str, saga_id: str) -> str:
    """The saga's page on the dashboard (its test page, opened on that saga)."""
    return f"{dashboard.rstrip('/')}/test?saga={saga_id}"
