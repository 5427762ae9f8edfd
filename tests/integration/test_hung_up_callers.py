"""Callers that hang up at once must not strand their sagas.

The chaos campaign: 400 BookFlight calls with 2-40 ms deadlines left some sagas logged RUNNING
with their first step's intent and no driver, for minutes, until a restart; a retry with the
same idempotency key only waited. A saga that exists is driven to the end whatever its caller
does.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from flightsaga.v1 import orchestrator_pb2 as pb
from tests.support.booking import book_request, first_flight, proof
from tests.support.dates import flight_date
from tests.support.stack import Stack, running_stack

CALLS = 300


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path) as s:
        yield s


async def test_hundreds_of_callers_hanging_up_within_ms_leave_no_saga_behind(
    stack: Stack,
) -> None:
    rng = random.Random(11)
    flights = [await first_flight(stack, date=d) for d in (flight_date(10), flight_date(11))]
    for flight in flights:  # warm-up: the orchestrator knows the flights, as in steady state
        await stack.orchestrator.BookFlight(book_request([flight], points=0), timeout=10)
    hung_up = 0

    async def call(i: int) -> None:
        nonlocal hung_up
        md = (("x-idempotency-key", f"hangup-{i}"),)
        try:
            await stack.orchestrator.BookFlight(
                book_request([flights[i % 2]], points=0),
                metadata=md,
                timeout=rng.uniform(0.001, 0.040),
            )
        except grpc.aio.AioRpcError as exc:
            assert exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED, exc
            hung_up += 1

    # In waves, so that calls reach the server while their deadline still runs.
    for wave in range(0, CALLS, 10):
        await asyncio.gather(*(call(i) for i in range(wave, wave + 10)))
    assert hung_up > CALLS // 2, "the deadlines were too long to test anything"

    loop = asyncio.get_running_loop()
    end = loop.time() + 30  # seconds, not minutes; no restart, no ResumeSaga
    while True:
        stats = await stack.orchestrator.GetStats(pb.GetStatsRequest(), timeout=5)
        if stats.running == 0 and stats.compensating == 0:
            break
        assert loop.time() < end, f"sagas still live: {stats}"
        await asyncio.sleep(0.2)
    assert stats.failed == 0 and stats.compensated == 0
    listed = await stack.orchestrator.ListSagas(pb.ListSagasRequest(page_size=200), timeout=5)
    print(f"{hung_up} of {CALLS} callers hung up; {stats.total - 2} sagas created")
    assert CALLS // 10 < stats.total - 2 <= CALLS, "too few sagas were created to test anything"
    for saga in listed.sagas[:20]:
        p = await proof(stack, saga.saga_id)
        assert (p.seats_held, p.charges, p.booking_status) == (1, 1, "CONFIRMED")

    # A retry with the same key gets the finished saga, not a wait on a stranded one.
    some = listed.sagas[0]
    i = int(some.idempotency_key.rsplit("-", 1)[1])
    again = await stack.orchestrator.BookFlight(
        book_request([flights[i % 2]], points=0),  # the same booking as that call's
        metadata=(("x-idempotency-key", some.idempotency_key),),
        timeout=10,
    )
    assert again.replayed and again.saga_id == some.saga_id
    assert pb.SagaStatus.Name(again.status) == "COMPLETED"
