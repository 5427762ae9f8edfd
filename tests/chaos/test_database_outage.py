"""The PostgreSQL server goes away under load, then comes back.

While it is down, calls that need it fail UNAVAILABLE (never INTERNAL, never a half-written
change); no process is restarted; once it is back every service recovers by itself, every
saga that exists ends, and the participants' records agree with each saga's outcome.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest

from flightsaga.v1 import orchestrator_pb2 as pb
from tests.support.booking import book_request, first_flight, proof
from tests.support.dates import flight_date
from tests.support.stack import Stack, running_stack

pytestmark = [pytest.mark.chaos, pytest.mark.postgres]

CLIENTS = 12
OUTAGE_S = 6.0  # past the pool's wait: calls must fail UNAVAILABLE


@pytest.mark.parametrize("database_backend", ["postgres"])
async def test_a_database_outage_under_load_fails_unavailable_and_heals(
    tmp_path: Path,
    database_backend: str,
    database_url: Callable[[str], str],
    pg_cluster: Any,
) -> None:
    rng = random.Random(5)
    codes: dict[str, int] = {}
    keys: list[str] = []
    stop = asyncio.Event()

    async with running_stack(tmp_path, urls=database_url, COMPENSATION_RETRY_FOR_S="60") as stack:
        flight = await first_flight(stack, date=flight_date(12))

        async def client(c: int) -> None:
            n = 0
            while not stop.is_set():
                key = f"db-outage-{c}-{n}"
                keys.append(key)
                n += 1
                request = book_request([flight], points=rng.choice([0, 50]))
                for _ in range(60):  # the same key and booking until an answer: one saga
                    try:
                        await stack.orchestrator.BookFlight(
                            request,
                            metadata=(("x-idempotency-key", key),),
                            timeout=5,
                        )
                        break
                    except grpc.aio.AioRpcError as exc:
                        codes[exc.code().name] = codes.get(exc.code().name, 0) + 1
                        await asyncio.sleep(0.2)

        clients = [asyncio.create_task(client(c)) for c in range(CLIENTS)]
        await asyncio.sleep(1.5)  # load before the outage
        with pg_cluster.stopped(mode="fast"):
            await asyncio.sleep(OUTAGE_S)
        await asyncio.sleep(3)  # load after it
        stop.set()
        await asyncio.gather(*clients)

        assert codes.get("UNAVAILABLE", 0) > 0, f"the outage went unnoticed: {codes}"
        assert set(codes) <= {"UNAVAILABLE", "DEADLINE_EXCEEDED"}, codes
        sagas = await wait_all_terminal(stack)
        assert {s.idempotency_key for s in sagas} <= set(keys)
        assert len({s.idempotency_key for s in sagas}) == len(sagas)  # one saga per key
        outcomes: dict[str, int] = {}
        for saga in sagas:
            status = pb.SagaStatus.Name(saga.status)
            outcomes[status] = outcomes.get(status, 0) + 1
            p = await proof(stack, saga.saga_id)
            if status == "COMPLETED":
                assert (p.seats_held, p.charges, p.refunds) == (1, 1, 0), saga.saga_id
                assert p.booking_status == "CONFIRMED"
            else:
                assert status == "COMPENSATED", (status, saga.error)
                assert p.seats_held == 0 and p.points_delta == 0, saga.saga_id
                assert p.charged_cents == p.refunded_cents
                assert p.booking_status in ("", "CANCELLED")
        assert outcomes.get("COMPLETED", 0) > 0, outcomes
        print(f"client errors {codes}; outcomes {outcomes}")


async def wait_all_terminal(stack: Stack) -> list[pb.Saga]:
    loop = asyncio.get_running_loop()
    end = loop.time() + 90
    while True:
        try:
            stats = await stack.orchestrator.GetStats(pb.GetStatsRequest(), timeout=5)
            if stats.running == 0 and stats.compensating == 0:
                break
        except grpc.aio.AioRpcError:
            pass
        assert loop.time() < end, "sagas still live 90 s after the database came back"
        await asyncio.sleep(0.3)
    out: list[pb.Saga] = []
    token = ""
    while True:
        page = await stack.orchestrator.ListSagas(
            pb.ListSagasRequest(page_size=200, page_token=token), timeout=10
        )
        out.extend(page.sagas)
        token = page.next_page_token
        if not token:
            return out
