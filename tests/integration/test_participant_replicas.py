"""Several replicas of a participant on one PostgreSQL database share one barrier, and the
orchestrator spreads its calls over them (round_robin) and keeps going when one dies."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import grpc
import pytest

from flightsaga.v1 import orchestrator_pb2 as pb
from tests.support.booking import book_request, first_flight, proof
from tests.support.dates import flight_date
from tests.support.participants import CASES, Case
from tests.support.procs import ServiceProcess, free_port
from tests.support.services import running_service
from tests.support.stack import Stack, orchestrator_env

pytestmark = pytest.mark.postgres


@pytest.fixture(params=CASES, ids=str)
async def two(
    request: pytest.FixtureRequest, tmp_path: Path, pg_url: Callable[[str], str]
) -> AsyncIterator[tuple[Case, Any, Any]]:
    """Two replicas of one participant on one database, and a client of each."""
    case: Case = request.param
    async with AsyncExitStack() as stack:
        stubs = []
        for _ in range(2):
            addr = await stack.enter_async_context(
                running_service(case.service, tmp_path, urls=pg_url)
            )
            channel = await stack.enter_async_context(grpc.aio.insecure_channel(addr))
            stubs.append(case.stub(channel))
        yield case, stubs[0], stubs[1]


async def test_the_barrier_holds_across_replicas(two: tuple[Case, Any, Any]) -> None:
    """Do on A, its retry on B, Compensate on B, the late Do on A: exactly once."""
    case, a, b = two
    before = await case.business(a, "saga-r")
    first = await a.Do(case.do_request("saga-r", 0))
    changed = await case.business(b, "saga-r")
    assert changed != before
    retried = await b.Do(case.do_request("saga-r", 0))
    assert retried == first  # the first result, replayed by the other replica's barrier
    assert await case.business(a, "saga-r") == changed  # and nothing done twice
    await b.Compensate(case.compensate_request("saga-r"))
    assert await case.business(a, "saga-r") == before
    again = await a.Compensate(case.compensate_request("saga-r"))
    assert not again.null_compensation
    assert await case.business(b, "saga-r") == before
    with pytest.raises(grpc.aio.AioRpcError) as late:
        await a.Do(case.do_request("saga-r", 0))
    assert late.value.code() == grpc.StatusCode.ABORTED
    assert await case.business(b, "saga-r") == before
    (mark,) = (await case.records(b, "saga-r")).barrier
    assert (mark.do_done, mark.compensated) == (1, 1)


async def test_the_orchestrator_spreads_calls_over_replicas_and_survives_one_dying(
    tmp_path: Path, pg_url: Callable[[str], str]
) -> None:
    env = {"DATABASE_URL": pg_url("seat_service"), "FAULT_INJECTION": "enabled"}
    seats = [
        ServiceProcess("seat_service", free_port(), env, tmp_path / f"seat-{i}.log")
        for i in range(2)
    ]
    async with AsyncExitStack() as stack:
        for proc in seats:
            proc.start()
            stack.callback(proc.stop)
        for proc in seats:
            await proc.wait_healthy()
        addrs = {
            # One name for both replicas (what dns:///seat:50051 is in compose).
            "seat_service": "ipv4:" + ",".join(p.addr for p in seats),
        }
        for service in ("loyalty_service", "payment_service", "booking_service"):
            addrs[service] = await stack.enter_async_context(
                running_service(service, tmp_path, urls=pg_url)
            )
        orch = ServiceProcess(
            "orchestrator",
            free_port(),
            orchestrator_env(addrs, tmp_path, DATABASE_URL=pg_url("orchestrator")),
            tmp_path / "orchestrator.log",
        )
        orch.start()
        stack.callback(orch.stop)
        await orch.wait_healthy()
        client = Stack(orch.addr, addrs, tmp_path)
        flight = await first_flight(client, date=flight_date(6))

        async def book(n: int) -> list[pb.Saga]:
            req = book_request([flight], customer="LOY-1004", points=0)
            return [await client.orchestrator.BookFlight(req, timeout=30) for _ in range(n)]

        done = await book(8)
        assert {s.status for s in done} == {pb.COMPLETED}
        counts = [p.log.read_text().count("reserve_seat Do committed") for p in seats]
        assert sum(counts) == 8 and all(counts), counts  # both replicas took calls

        seats[0].kill9()
        after = await book(6)
        assert {s.status for s in after} == {pb.COMPLETED}, [s.error for s in after]
        for saga in after:
            assert (await proof(client, saga.saga_id)).seats_held == 1
        for channel in client.channels:
            await channel.close()
