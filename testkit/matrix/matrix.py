"""The whole matrix: a stack (started here, or --target), every cell, then the invariants.

The chaos campaign's invariants (chaos/invariants.py, on the services' typed reads) run over
the matrix's sagas once every cell has finished: each saga's effects by its final status, one
saga per key, the seat maps and the loyalty balance.
"""

from __future__ import annotations

import secrets
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import grpc

from chaos import invariants, records
from chaos.plan import BookingSpec
from chaos.stack import CHANNEL_OPTIONS, LocalStack, TargetStack, open_peers
from chaos.workload import flight_pool
from flightsaga.v1 import orchestrator_pb2 as pb
from sagas.booking import STEP_ORDER
from sagas.peers import Addrs, Peers
from testkit.matrix import cells as cellmod
from testkit.matrix import report
from testkit.matrix.columns import COLUMNS, Column

FLIGHTS = 4  # cells are spread over this many flights of the chaos pool's route


# The local stack's orchestrator: deadlines short enough that the delay cells (every attempt
# outlives the step deadline, retried for STEP_RETRY_FOR_S) take about three seconds, long
# enough that a busy machine's ordinary calls stay well inside them.
def stack_env() -> dict[str, str]:
    return {
        "STEP_TIMEOUT_MS": "1000",
        "STEP_RETRY_FOR_S": "2",
        "SAGA_TIMEOUT_S": "30",
        "COMPENSATION_BACKOFF_CAP_S": "0.5",
        "COMPENSATION_RETRY_FOR_S": "20",
        "LOG_LEVEL": "info",
    }


@dataclass
class Options:
    out_dir: Path
    dashboard: str = "http://127.0.0.1:8080"
    target: Addrs | None = None  # None: start a local stack in out_dir/stack
    steps: Sequence[str] = STEP_ORDER
    columns: Sequence[Column] = COLUMNS
    concurrency: int = 8
    cell_timeout_s: float = 120.0
    env: dict[str, str] = field(default_factory=dict)  # extra environment, local stack
    token: str | None = None  # --target: the bearer token (None: FLIGHTSAGA_TOKEN)
    out: TextIO = sys.stdout


class MatrixError(Exception):
    """The matrix could not run (the stack did not start, or cannot be read)."""


async def run(opts: Options) -> dict[str, Any]:
    """Every cell; returns the report (not yet written)."""
    stack: LocalStack | TargetStack
    peers: Peers
    if opts.target is None:
        stack = LocalStack(opts.out_dir / "stack", {**stack_env(), **opts.env})
        print(f"starting a local stack (data and logs in {opts.out_dir / 'stack'})", file=opts.out)
    else:
        stack = TargetStack(opts.target)
    t0 = time.monotonic()
    await stack.start()
    if opts.target is None:
        peers = open_peers(stack.addrs)
    else:  # somebody else's deployment: its transport and token from TLS_* / FLIGHTSAGA_TOKEN
        peers = Peers(stack.addrs.as_dict(), token=opts.token, options=CHANNEL_OPTIONS)
    try:
        return await _matrix(opts, stack, peers, t0)
    except grpc.aio.AioRpcError as exc:
        where = ", ".join(f"{k} {v}" for k, v in stack.addrs.as_dict().items())
        raise MatrixError(f"the stack ({where}): {exc.code().name}: {exc.details()}") from exc
    finally:
        await peers.close()
        await stack.stop()


async def _matrix(
    opts: Options, stack: LocalStack | TargetStack, peers: Peers, t0: float
) -> dict[str, Any]:
    pool = await flight_pool(peers, FLIGHTS)
    flights_before = await records.read_flights(peers, pool)
    balances_before = await records.read_balances(peers, [cellmod.ACCOUNT])
    run_id = secrets.token_hex(3)
    cells = cellmod.plan_cells(STEP_ORDER, opts.columns, run_id, rows=opts.steps)
    for i, cell in enumerate(cells):
        cell.flight_id = pool[i % len(pool)]
    todo = sum(c.scenario is not None for c in cells)
    print(f"matrix {run_id}: {todo} cells on {stack.addrs.orchestrator}", file=opts.out)
    runner = cellmod.Runner(peers, STEP_ORDER, opts.cell_timeout_s)
    await cellmod.run_all(runner, cells, opts.concurrency)
    violations = await check_invariants(
        peers, cells, f"matrix-{run_id}-", pool, flights_before, balances_before
    )
    for cell in cells:
        cell.problems += [str(v) for v in violations if v.subject == cell.saga_id]
    return report.build(
        cells,
        STEP_ORDER,
        opts.columns,
        [v for v in violations if v.subject not in {c.saga_id for c in cells}],
        orchestrator=stack.addrs.orchestrator,
        dashboard=opts.dashboard,
        stack="local" if opts.target is None else "target",
        env={**stack_env(), **opts.env} if opts.target is None else {},
        seconds=time.monotonic() - t0,
    )


def spec(cell: cellmod.Cell) -> BookingSpec:
    """The cell's booking as the chaos invariants know bookings."""
    sc = cell.scenario
    assert sc is not None
    final = sc.then.expect if sc.then else sc.expect
    return BookingSpec(
        key=cell.key,
        phase=0,
        flights=(0,),
        passengers=1,
        account=cellmod.ACCOUNT,
        points=cellmod.POINTS,
        card=cellmod.CARD,
        fail_at=sc.fail_at,
        fault=sc.fault,
        expect=final.status,
    )


async def check_invariants(
    peers: Peers,
    cells: Sequence[cellmod.Cell],
    key_prefix: str,
    pool: list[str],
    flights_before: dict[str, records.FlightView],
    balances_before: dict[str, int],
) -> list[invariants.Violation]:
    """The chaos invariants over the matrix's sagas, as they finally are."""
    ran = [c for c in cells if c.saga_id]
    sagas = {}
    for c in ran:
        s = await peers.orchestrator.GetSaga(pb.GetSagaRequest(saga_id=c.saga_id), timeout=10)
        sagas[c.saga_id] = records.SagaView(
            s.saga_id, s.idempotency_key, pb.SagaStatus.Name(s.status), s.booking_reference, s.error
        )
    ev = invariants.Evidence(
        sagas=sagas,
        records=await records.read_participants(peers, sagas, limit=8),
        specs={c.key: spec(c) for c in ran},
        legs={c.key: [c.flight_id] for c in ran},
        calls=[],
        key_prefix=key_prefix,
        flights_before=flights_before,
        flights_after=await records.read_flights(peers, pool),
        balances_before=balances_before,
        balances_after=await records.read_balances(peers, balances_before),
    )
    return [
        *invariants.per_saga(ev),
        *invariants.keys(ev),
        *invariants.seats(ev),
        *invariants.balances(ev),
    ]
