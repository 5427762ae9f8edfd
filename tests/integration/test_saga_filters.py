"""ListSagas filters over the real stack (orchestrator and participants, SQLite files): what
each filter finds, combined, across pages, and the field a bad filter is refused on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from flightsaga.v1 import orchestrator_pb2 as pb
from flightsaga.v1 import seat_pb2
from tests.support.booking import DECLINED_CARD, book_request
from tests.support.dates import flight_date
from tests.support.stack import Stack, running_stack


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[tuple[Stack, dict[str, pb.Saga], list[str]]]:
    """A stack holding three bookings: `ok` (LOY-1001 on flight 0, COMPLETED), `faulted`
    (LOY-1002 on flight 1, failed at payment by x-fail-at) and `declined` (LOY-1001 on flight
    1, card declined), created in that order."""
    async with running_stack(tmp_path) as s:
        found = await s.seat.SearchFlights(
            seat_pb2.SearchFlightsRequest(origin="JFK", destination="LAX", date=flight_date(1))
        )
        flights = [found.outbound[0].flight_id, found.outbound[1].flight_id]
        book = s.orchestrator.BookFlight
        sagas = {
            "ok": await book(book_request(flights[:1]), timeout=30),
            "faulted": await book(
                book_request(flights[1:], customer="LOY-1002"),
                metadata=(("x-fail-at", "payment"),),
                timeout=30,
            ),
            "declined": await book(book_request(flights[1:], card=DECLINED_CARD), timeout=30),
        }
        yield s, sagas, flights


async def listed(
    s: Stack, size: int = 20, token: str = "", **fields: object
) -> pb.ListSagasResponse:
    request = pb.ListSagasRequest(filter=pb.SagaFilter(**fields), page_size=size, page_token=token)
    return await s.orchestrator.ListSagas(request)


def names(reply: pb.ListSagasResponse, sagas: dict[str, pb.Saga]) -> list[str]:
    by_id = {v.saga_id: k for k, v in sagas.items()}
    return [by_id[x.saga_id] for x in reply.sagas]


async def test_each_filter_and_their_combinations(
    stack: tuple[Stack, dict[str, pb.Saga], list[str]],
) -> None:
    s, sagas, flights = stack
    assert [pb.SagaStatus.Name(x.status) for x in sagas.values()] == [
        "COMPLETED",
        "COMPENSATED",
        "COMPENSATED",
    ]
    assert sagas["declined"].error_reason == "CARD_DECLINED"
    assert sagas["faulted"].failed_step == "process_payment"
    cases: list[tuple[dict[str, object], list[str]]] = [
        ({}, ["declined", "faulted", "ok"]),
        ({"customer_id": "LOY-1002"}, ["faulted"]),
        ({"flight_id": flights[1]}, ["declined", "faulted"]),
        ({"statuses": [pb.COMPLETED, pb.FAILED]}, ["ok"]),
        ({"step": "payment"}, ["declined", "faulted"]),
        ({"error_reason": "card_declined"}, ["declined"]),
        ({"error_reason": "FAULT_INJECTED"}, ["faulted"]),
        ({"saga": "book_flight"}, ["declined", "faulted", "ok"]),
        ({"created_after": sagas["faulted"].created_at}, ["declined", "faulted"]),
        ({"created_before": sagas["faulted"].created_at}, ["ok"]),
        ({"customer_id": "LOY-1001", "statuses": [pb.COMPENSATED]}, ["declined"]),
        ({"flight_id": flights[0], "step": "payment"}, []),
        ({"customer_id": "LOY-9999"}, []),
    ]
    for fields, expected in cases:
        reply = await listed(s, **fields)
        assert (names(reply, sagas), reply.total) == (expected, len(expected)), fields
    # The older `status` field still filters, alone or with filter.statuses saying the same.
    old = await s.orchestrator.ListSagas(pb.ListSagasRequest(status=pb.COMPENSATED))
    assert names(old, sagas) == ["declined", "faulted"]
    same = pb.ListSagasRequest(status=pb.COMPLETED, filter=pb.SagaFilter(statuses=[pb.COMPLETED]))
    assert names(await s.orchestrator.ListSagas(same), sagas) == ["ok"]


async def test_pages_of_a_filter_and_tokens_bound_to_it(
    stack: tuple[Stack, dict[str, pb.Saga], list[str]],
) -> None:
    s, sagas, flights = stack
    first = await listed(s, 1, flight_id=flights[1])
    assert (names(first, sagas), first.total) == (["declined"], 2)
    second = await listed(s, 1, first.next_page_token, flight_id=flights[1])
    assert (names(second, sagas), second.next_page_token) == (["faulted"], "")
    with pytest.raises(grpc.aio.AioRpcError) as other:
        await listed(s, 1, first.next_page_token, flight_id=flights[0])
    assert other.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "page_token" in (other.value.details() or "")


def at(seconds: int, nanos: int = 0) -> Timestamp:
    return Timestamp(seconds=seconds, nanos=nanos)


BAD: list[tuple[pb.ListSagasRequest, str]] = [
    (pb.ListSagasRequest(filter=pb.SagaFilter(step="teleport")), "filter.step"),
    (pb.ListSagasRequest(filter=pb.SagaFilter(saga="cruise")), "filter.saga"),
    (
        pb.ListSagasRequest(filter=pb.SagaFilter(statuses=[pb.SagaStatus.ValueType(42)])),
        "filter.statuses",
    ),
    (pb.ListSagasRequest(filter=pb.SagaFilter(error_reason="not a reason")), "filter.error_reason"),
    (pb.ListSagasRequest(filter=pb.SagaFilter(customer_id="x" * 100)), "filter.customer_id"),
    (pb.ListSagasRequest(filter=pb.SagaFilter(flight_id="F\x01")), "filter.flight_id"),
    (pb.ListSagasRequest(filter=pb.SagaFilter(created_after=at(10**12))), "filter.created_after"),
    (
        pb.ListSagasRequest(filter=pb.SagaFilter(created_after=at(2000), created_before=at(1000))),
        "filter.created_before",
    ),
    (
        pb.ListSagasRequest(status=pb.FAILED, filter=pb.SagaFilter(statuses=[pb.COMPLETED])),
        "status",
    ),
]


async def test_a_bad_filter_names_its_field(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as s:
        for request, field in BAD:
            with pytest.raises(grpc.aio.AioRpcError) as bad:
                await s.orchestrator.ListSagas(request)
            assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT, field
            assert (bad.value.details() or "").startswith(f"{field}: "), bad.value.details()
