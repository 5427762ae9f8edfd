"""Several orchestrator replicas on one PostgreSQL saga log: takeover, fencing, any replica
answers for any saga.

Participants run as real servers in this process on PostgreSQL; each orchestrator replica is a
real OS process (kill -9, SIGSTOP/SIGCONT) with its own ORCHESTRATOR_ID on the same saga log.
"""

from __future__ import annotations

import asyncio
import signal
import time
from contextlib import suppress

import pytest

from flightsaga.v1 import orchestrator_pb2 as pb
from tests.support.booking import MIXED_FAULTS, book_request, check_records, first_flight
from tests.support.dates import flight_date
from tests.support.replicas import (
    TTL,
    Replicas,
    all_sagas,
    assert_fenced,
    balance,
    client,
    live_owned_by,
    replicas,
    start_sagas,
    wait_all_terminal,
)

pytestmark = [pytest.mark.chaos, pytest.mark.postgres]

__all__ = ["replicas"]  # the fixture, used by name

FAULTS = MIXED_FAULTS


async def test_kill9_one_of_three_replicas_the_survivors_finish_its_sagas(
    replicas: Replicas,
) -> None:
    await replicas.start(3)
    stack = await client(replicas)
    before = await balance(stack)
    points = await start_sagas(replicas, stack, 100, "ha", FAULTS)
    owned = live_owned_by(replicas.database, "replica-1")
    assert owned > 0, "replica-1 drove nothing at the kill"
    replicas.procs[0].kill9()

    took = await wait_all_terminal(replicas.stubs[1], within=60)
    sagas = await all_sagas(replicas.stubs[2])
    assert len(sagas) == 100
    assert not [s.saga_id for s in sagas if s.status == pb.FAILED]
    spent = await check_records(stack, sagas, points)
    assert await balance(stack) == before - spent
    survivors = replicas.log(1) + replicas.log(2)
    assert "[SAGA] taking over" in survivors
    assert_fenced(replicas.database)
    # The bound HA promises: every saga terminal within the lease TTL + 5 s of the kill.
    print(f"\n{owned} sagas of the killed replica; all terminal {took:.1f} s after the kill")
    assert took <= TTL + 5, f"{took:.1f} s"


async def test_a_paused_replica_writes_nothing_for_the_sagas_taken_from_it(
    replicas: Replicas,
) -> None:
    slow = {"x-fault": "seat:delay=1200,loyalty:delay=1200,payment:delay=1200,booking:delay=1200"}
    await replicas.start(2, STEP_TIMEOUT_MS="4000")
    stack = await client(replicas)
    before = await balance(stack)
    # All on replica 1 (the first stub), each in a 1.2 s step when it is paused.
    paused, other = replicas.procs[0], replicas.stubs[1]
    replicas.stubs = replicas.stubs[:1]
    points = await start_sagas(replicas, stack, 20, "pause", [slow])
    replicas.stubs = [replicas.stubs[0], other]
    await asyncio.sleep(0.5)
    assert paused.proc is not None
    paused.proc.send_signal(signal.SIGSTOP)
    try:
        deadline = time.monotonic() + TTL + 10
        while live_owned_by(replicas.database, "replica-2") < 20:
            assert time.monotonic() < deadline, "replica-2 did not take the sagas over"
            await asyncio.sleep(0.2)
    finally:
        paused.proc.send_signal(signal.SIGCONT)
    await wait_all_terminal(other, within=60)
    sagas = await all_sagas(other)
    assert len(sagas) == 20
    spent = await check_records(stack, sagas, points)
    assert await balance(stack) == before - spent
    # What the fencing proves: the paused replica, woken with outcomes and calls pending, wrote
    # nothing more for those sagas (an event under its older lease after the newer one).
    assert_fenced(replicas.database)
    # It noticed, once per saga (a write refused by the fence, or a call it did not make
    # because its lease had not been renewed in time).
    assert replicas.log(0).count("[SAGA] lease lost") == 20
    # ... and it still serves: a booking through it runs to the end.
    flight = await first_flight(stack, date=flight_date(4))
    done = await replicas.stubs[0].BookFlight(
        book_request([flight], customer="LOY-1004", points=0), timeout=30
    )
    assert done.status == pb.COMPLETED, done


async def test_any_replica_answers_for_any_saga(replicas: Replicas) -> None:
    await replicas.start(2)
    stack = await client(replicas)
    a, b = replicas.stubs
    flight = await first_flight(stack, date=flight_date(5))
    req = book_request([flight], customer="LOY-1004", points=100)
    done = await a.BookFlight(req, metadata=(("x-idempotency-key", "any-1"),), timeout=30)
    assert done.status == pb.COMPLETED
    # Reads, and a replay by key, on the other replica.
    got = await b.GetSaga(pb.GetSagaRequest(saga_id=done.saga_id), timeout=5)
    assert got.status == pb.COMPLETED and got.saga_id == done.saga_id
    assert done.saga_id in {s.saga_id for s in await all_sagas(b)}
    assert (await b.GetStats(pb.GetStatsRequest(), timeout=5)).completed == 1
    again = await b.BookFlight(req, metadata=(("x-idempotency-key", "any-1"),), timeout=30)
    assert again.saga_id == done.saga_id

    # One key sent to both replicas at once: one saga.
    async def race(i: int) -> set[str]:
        r = book_request([flight], customer="LOY-1004", points=0)
        md = (("x-idempotency-key", f"race-{i}"),)
        got = await asyncio.gather(*(s.BookFlight(r, metadata=md, timeout=30) for s in (a, b)))
        return {g.saga_id for g in got}

    raced = await asyncio.gather(*(race(i) for i in range(8)))
    assert all(len(ids) == 1 for ids in raced), raced
    assert len(await all_sagas(a)) == 1 + 8

    # WatchSaga on B streams, live, the events of a saga A drives.
    slow = (("x-fault", "seat:delay=300,loyalty:delay=300,payment:delay=300,booking:delay=300"),)
    started = await a.StartBooking(
        pb.StartBookingRequest(request_id="watched", booking=req), metadata=slow, timeout=10
    )
    delays: list[float] = []
    types: list[str] = []
    async for event in b.WatchSaga(pb.WatchSagaRequest(saga_id=started.saga_id), timeout=30):
        types.append(pb.SagaEventType.Name(event.type))
        delays.append(time.time() - event.at.ToDatetime().timestamp())
    assert types[0] == "SAGA_STARTED" and types[-1] == "SAGA_COMPLETED", types
    live = sorted(delays[2:])  # after the replay of what was logged before the watch began
    if live:
        print(f"\nWatchSaga across replicas: p50 delay {live[len(live) // 2] * 1000:.0f} ms")

    # ResumeSaga on B of a saga that went FAILED on A.
    stuck = await a.BookFlight(
        req,
        metadata=(("x-fail-at", "booking"), ("x-fault", "payment:compensate-fail=always")),
        timeout=60,
    )
    assert stuck.status == pb.FAILED, stuck
    resumed = await b.ResumeSaga(
        pb.ResumeSagaRequest(saga_id=stuck.saga_id, clear_faults=True), timeout=30
    )
    assert resumed.status == pb.COMPENSATED, resumed
    assert_fenced(replicas.database)
    with suppress(Exception):
        for ch in stack.channels:
            await ch.close()
