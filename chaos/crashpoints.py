"""The crash-point matrix: kill -9 the orchestrator at every durable write of a saga that
completes and of one that compensates, restart it, and check what recovery did.

Only the orchestrator dies, by its own hand at the point (sagakit.testhooks' durable-write
point, through FLIGHTSAGA_TEST_HOOKS, which needs FAULT_INJECTION=enabled); the participants
stay up. A recorded run of each saga lists its durable writes (crashplan.py), then each point
gets a saga of its own, the client retrying with its idempotency key as a careful one does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

from chaos import crashreport, invariants, records
from chaos.campaign import bookings_log_ids
from chaos.crashplan import CrashPoint, DurableWrite, points, read_record
from chaos.crashreport import LoggedEvent, PointResult
from chaos.plan import COMPENSATED, COMPLETED, GOOD_CARD, BookingSpec
from chaos.stack import LocalStack, open_peers
from chaos.workload import Workload, flight_ids, flight_pool
from flightsaga.v1 import orchestrator_pb2 as pb
from sagakit.testhooks import DURABLE

# The matrix's sagas: one that completes, one that fails at payment and compensates.
_BOOKING = BookingSpec(
    key="",
    phase=0,
    flights=(0,),
    passengers=1,
    account="LOY-1004",
    points=100,
    card=GOOD_CARD,
    fail_at="",
    fault="",
    expect=COMPLETED,
    retries=40,  # the client comes back with its key until the restarted orchestrator answers
)
SAGAS = {
    "completed": replace(_BOOKING, key="completed"),
    "compensated": replace(_BOOKING, key="compensated", fail_at="payment", expect=COMPENSATED),
}
EXIT_WITHIN_S = 30.0  # for the orchestrator to reach the point and die
SETTLE_S = 60.0  # for recovery to finish the saga


@dataclass
class Options:
    data_dir: Path
    backend: str = "sqlite"
    databases: dict[str, str] | None = None  # DATABASE_URL by database name; default SQLite
    sagas: tuple[str, ...] = tuple(SAGAS)
    code_dir: Path | None = None  # run the services from this source tree
    out: TextIO = sys.stdout


class MatrixError(Exception):
    """The matrix could not run (a recorded saga did not run at all)."""


@dataclass(frozen=True)
class _Snapshot:
    flights: dict[str, records.FlightView]
    balances: dict[str, int]


class Matrix:
    """One local stack; the orchestrator is killed and restarted at every point."""

    def __init__(self, stack: LocalStack, workload: Workload, hooks: Path) -> None:
        self.stack = stack
        self.workload = workload
        self.peers = workload.peers
        self.hooks = hooks

    def arm(self, plan: str | None) -> None:
        armed = self.hooks / DURABLE
        if plan is None:
            armed.unlink(missing_ok=True)
        else:
            armed.write_text(plan)

    async def record(self, name: str) -> list[DurableWrite]:
        """Run the saga once with every durable write recorded; its writes."""
        self.arm("record")
        spec = replace(SAGAS[name], key=f"record-{name}")
        await self.workload.book(spec)
        self.arm(None)
        calls = [c for c in self.workload.calls if c.key == self.workload.key(spec)]
        if not calls or not calls[-1].saga_id:
            raise MatrixError(f"the recorded {name} saga did not run: {calls}")
        return read_record(self.hooks / f"{DURABLE}.log", calls[-1].saga_id)

    async def crash(self, point: CrashPoint, expected: list[str]) -> PointResult:
        """Kill at the point, restart, let recovery finish, read and check everything."""
        spec = replace(SAGAS[point.saga], key=point.id.replace("/", "-"))
        result = PointResult(point)
        before = await self._snapshot(spec)
        self.arm(point.plan)
        client = asyncio.create_task(self.workload.book(spec))
        sid = await self._killed(point, result)
        offsets = self._log_sizes()
        if result.exit_code:
            await self.stack.restart("orchestrator")
        if sid is None:  # the point failed; the saga still ends before the next point
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(client, SETTLE_S)
            return result
        try:
            await asyncio.wait_for(client, SETTLE_S)
        except TimeoutError:
            result.violations.append(f"the client had no answer {SETTLE_S:.0f} s after the restart")
        final = await _settled(self.workload, sid)
        result.final = final.status
        logged = await _events(self.workload, sid)
        result.violations += await self._check(spec, final, before)
        result.violations += _log_at_kill(point, expected, logged)
        result.recovery = self._recovery(sid, logged[point.durable :], offsets)
        return result

    async def _killed(self, point: CrashPoint, result: PointResult) -> str | None:
        """Wait for the orchestrator to kill itself at the point: the saga's id, or None (and
        a violation saying why)."""
        try:
            result.exit_code = await self.stack.exited("orchestrator", EXIT_WITHIN_S)
        except TimeoutError:
            self.arm(None)
            result.violations.append(f"{point.plan}: the orchestrator never reached the point")
            return None
        if result.exit_code != -9:
            result.violations.append(f"the orchestrator exited {result.exit_code}, not SIGKILLed")
        reached = self.hooks / f"{DURABLE}.reached"
        if not reached.exists():
            self.arm(None)
            result.violations.append(f"{point.plan}: the orchestrator died before the point")
            return None
        sid: str = json.loads(reached.read_text())["saga_id"]
        reached.unlink()
        return sid

    async def _snapshot(self, spec: BookingSpec) -> _Snapshot:
        pool = self.workload.pool
        return _Snapshot(
            await records.read_flights(self.peers, pool),
            await records.read_balances(self.peers, [spec.account]),
        )

    async def _check(
        self, spec: BookingSpec, final: records.SagaView, before: _Snapshot
    ) -> list[str]:
        """chaos.invariants over this one saga (the participants' records against its end,
        its seats and points against the snapshot, the client's answer, the bookings log), and
        the end it was planned to have."""
        key = self.workload.key(spec)
        after = await self._snapshot(spec)
        ev = invariants.Evidence(
            sagas={final.saga_id: final},
            records=await records.read_participants(self.peers, [final.saga_id]),
            specs={key: spec},
            legs={key: flight_ids(spec, self.workload.pool)},
            calls=[c for c in self.workload.calls if c.key == key],
            key_prefix=key,
            flights_before=before.flights,
            flights_after=after.flights,
            balances_before=before.balances,
            balances_after=after.balances,
            bookings_log=bookings_log_ids(self.stack.bookings_log()),
        )
        found = [str(v) for v in invariants.check(ev)]
        if final.status != spec.expect:  # a crash must not change how the saga ends
            found.append(f"planned end: expected {spec.expect}; found {final.status}")
        return found

    def _logs(self) -> list[Path]:
        return [self.stack.log_dir() / f"{s.name}.log" for s in self.stack.launcher.services]

    def _log_sizes(self) -> dict[Path, int]:
        return {p: p.stat().st_size if p.exists() else 0 for p in self._logs()}

    def _recovery(self, sid: str, after: list[LoggedEvent], offsets: dict[Path, int]) -> list[str]:
        """What the orchestrator did after the restart and what the participants answered:
        their log lines written since the kill."""
        lines: list[str] = []
        for path, offset in offsets.items():
            with path.open("rb") as f:
                f.seek(offset)
                lines += f.read().decode(errors="replace").splitlines()
        reconciled = any(crashreport.RECONCILED in x and sid in x for x in lines)
        return crashreport.recovery(after, crashreport.answers(lines, sid), reconciled)


def _log_at_kill(point: CrashPoint, expected: list[str], logged: list[LoggedEvent]) -> list[str]:
    """The log must hold exactly what the recorded run had logged by the point."""
    found = [f"{e.type} {e.step}".strip() for e in logged[: point.durable]]
    if found == expected[: point.durable]:
        return []
    return [f"log at the kill: expected {expected[: point.durable]}; found {found}"]


async def _settled(workload: Workload, sid: str) -> records.SagaView:
    """The saga once it is COMPLETED or COMPENSATED (or as it stands after SETTLE_S)."""
    end = time.monotonic() + SETTLE_S
    while True:
        s = await workload.peers.orchestrator.GetSaga(pb.GetSagaRequest(saga_id=sid), timeout=10)
        status = pb.SagaStatus.Name(s.status)
        if status in records.TERMINAL or time.monotonic() > end:
            return records.SagaView(sid, s.idempotency_key, status, s.booking_reference, s.error)
        await asyncio.sleep(0.1)


async def _events(workload: Workload, sid: str) -> list[LoggedEvent]:
    stream = workload.peers.orchestrator.WatchSaga(pb.WatchSagaRequest(saga_id=sid), timeout=30)
    return [LoggedEvent(pb.SagaEventType.Name(e.type), e.step, e.attempt) async for e in stream]


async def run(opts: Options) -> dict[str, Any]:
    """The whole matrix on one backend; returns the report."""
    t0 = time.monotonic()
    hooks = opts.data_dir / "hooks"
    hooks.mkdir(parents=True, exist_ok=True)
    env = {"FLIGHTSAGA_TEST_HOOKS": str(hooks), "LOG_LEVEL": "info"}
    stack = LocalStack(opts.data_dir, env, opts.code_dir, databases=opts.databases)
    await stack.start()
    peers = open_peers(stack.addrs)
    try:
        pool = await flight_pool(peers, 1)
        workload = Workload(peers, pool, secrets.token_hex(4), concurrency=1)
        matrix = Matrix(stack, workload, hooks)
        writes = {name: await matrix.record(name) for name in opts.sagas}
        results = []
        for name, ws in writes.items():
            expected = [e for w in ws for e in w.events]
            for point in points(name, ws):
                print(f"  {point.id}: kill -9 {point.what}", file=opts.out, flush=True)
                results.append(await matrix.crash(point, expected))
    finally:
        await peers.close()
        await stack.stop()
    return crashreport.build(opts.backend, writes, results, time.monotonic() - t0)
