"""Bad input, as a new user's fuzzing found it: the right status naming the field, no saga and
no participant record for input that can be refused at once, never UNKNOWN or INTERNAL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC
from pathlib import Path
from typing import Any

import grpc
import pytest

from flightsaga.v1 import common_pb2, loyalty_pb2, payment_pb2, seat_pb2
from flightsaga.v1 import orchestrator_pb2 as pb
from sagakit.errors import Reason, details_of
from tests.support.booking import book_request, first_flight
from tests.support.dates import flight_id
from tests.support.stack import Stack, running_stack

INVALID = grpc.StatusCode.INVALID_ARGUMENT


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path) as s:
        yield s


async def refused(call: Any, field: str, code: grpc.StatusCode = INVALID) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    assert info.value.code() == code, (info.value.code(), info.value.details())
    assert field in (info.value.details() or ""), info.value.details()


@pytest.mark.parametrize("saga_id", ["", "x" * 10_000, "bad\x01id"])
async def test_watch_saga_maps_bad_ids_like_a_unary_call(stack: Stack, saga_id: str) -> None:
    stream = stack.orchestrator.WatchSaga(pb.WatchSagaRequest(saga_id=saga_id), timeout=5)
    await refused(_drain(stream), "saga_id")


async def _drain(stream: Any) -> None:
    async for _ in stream:
        pass


@pytest.mark.parametrize("token", ["999999999999999999999999999999", "²", "%%%", "e30"])
async def test_list_sagas_refuses_tokens_it_did_not_make(stack: Stack, token: str) -> None:
    await refused(
        stack.orchestrator.ListSagas(pb.ListSagasRequest(page_token=token), timeout=5),
        "page_token",
    )


@pytest.mark.parametrize("delay", ["inf", "1e400", "infs", "nan"])
async def test_infinite_delays_are_invalid_not_internal(stack: Stack, delay: str) -> None:
    flight = await first_flight(stack)
    await refused(
        stack.orchestrator.BookFlight(
            book_request([flight]), metadata=(("x-fault", f"payment:delay={delay}"),), timeout=5
        ),
        "x-fault",
    )
    charge = payment_pb2.ChargeRequest(
        saga_id="fuzz-1",
        amount_cents=100,
        currency="USD",
        card=common_pb2.Card(
            number="4242424242424242", exp_month=12, exp_year=2031, cvc="123", holder_name="A B"
        ),
    )
    await refused(
        stack.payment.Do(charge, metadata=(("x-fault", f"do:delay={delay}"),), timeout=5),
        "x-fault",
    )


def _card(**changes: Any) -> Callable[[pb.BookFlightRequest], None]:
    def edit(req: pb.BookFlightRequest) -> None:
        for k, v in changes.items():
            setattr(req.card, k, v)

    return edit


def _select(flight_id: str | None, index: int, seat: str) -> Callable[[pb.BookFlightRequest], None]:
    def edit(req: pb.BookFlightRequest) -> None:
        req.seat_selections.append(
            common_pb2.SeatSelection(
                flight_id=flight_id or req.flight_ids[0], passenger_index=index, seat=seat
            )
        )

    return edit


def _twice(req: pb.BookFlightRequest) -> None:
    req.flight_ids.append(req.flight_ids[0])


BAD_BOOKINGS = [
    (_card(number="4242424242424241"), "card.number"),  # Luhn
    (_card(number="4242-4242-42x2-4242"), "card.number"),
    (_card(number="424242424242424²"), "card.number"),  # a superscript digit
    (_card(number="４２４２４２４２４２４２４２４２"), "card.number"),  # fullwidth digits
    (_card(exp_month=0), "card.exp_month"),
    (_card(exp_month=13), "card.exp_month"),
    (_card(exp_year=2001), "card.exp_year"),
    (_card(exp_year=9999), "card.exp_year"),
    (_card(cvc="12"), "card.cvc"),
    (_card(cvc="abc"), "card.cvc"),
    (_select(None, 0, "1A"), "seat_selections[0].seat"),  # row 1 is not ECONOMY
    (_select(None, 0, "99Z"), "seat_selections[0].seat"),
    (_select(None, 5, "30A"), "seat_selections[0].passenger_index"),
    (_select(flight_id("FS999", 1), 0, "30A"), "seat_selections[0].flight_id"),
    (_twice, "flight_ids[1]"),
]


@pytest.mark.parametrize(("edit", "field"), BAD_BOOKINGS, ids=[f for _, f in BAD_BOOKINGS])
async def test_bad_bookings_are_refused_before_any_saga_or_record(
    stack: Stack, edit: Callable[[pb.BookFlightRequest], None], field: str
) -> None:
    flight = await first_flight(stack)
    account = loyalty_pb2.GetAccountRequest(account_id="LOY-1001")
    before = (await stack.loyalty.GetAccount(account)).balance
    req = book_request([flight], points=500)
    edit(req)
    await refused(stack.orchestrator.BookFlight(req, timeout=10), field)
    start = pb.StartBookingRequest(request_id="bad-1", booking=req)
    await refused(stack.orchestrator.StartBooking(start, timeout=10), field)
    assert (await stack.orchestrator.ListSagas(pb.ListSagasRequest())).total == 0
    assert (await stack.loyalty.GetAccount(account)).balance == before


async def test_a_departed_flight_is_refused_before_any_saga_naming_the_field(
    stack: Stack,
) -> None:
    gone = flight_id("FS101", -1)
    flight = await stack.seat.GetFlight(seat_pb2.GetFlightRequest(flight_id=gone))
    at = flight.flight.departure.ToDatetime(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    req = book_request([await first_flight(stack), gone], points=500)
    start = pb.StartBookingRequest(request_id="departed-1", booking=req)
    for call in (
        stack.orchestrator.BookFlight(req, timeout=10),
        stack.orchestrator.StartBooking(start, timeout=10),
        # a second time: the flight's departure is cached, the answer is the same
        stack.orchestrator.BookFlight(req, timeout=10),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        err = caught.value
        assert err.code() == grpc.StatusCode.FAILED_PRECONDITION, err.details()
        assert (
            err.details() == f"flight_ids[1]: flight {gone} departed at {at}; book a later flight"
        )
        info = details_of(err)
        assert (info.reason, info.field) == (Reason.FLIGHT_DEPARTED, "flight_ids[1]")
    assert (await stack.orchestrator.ListSagas(pb.ListSagasRequest())).total == 0


@pytest.mark.parametrize("number", ["424242424242424²", "４２４２４２４２４２４２４２４２"])
async def test_the_payment_service_refuses_non_ascii_digits(stack: Stack, number: str) -> None:
    charge = payment_pb2.ChargeRequest(
        saga_id="fuzz-2",
        amount_cents=100,
        currency="USD",
        card=common_pb2.Card(
            number=number, exp_month=12, exp_year=2031, cvc="123", holder_name="A B"
        ),
    )
    await refused(stack.payment.Do(charge, timeout=5), "card.number")


async def test_a_refused_resume_changes_nothing(stack: Stack) -> None:
    flight = await first_flight(stack)
    saga = await stack.orchestrator.BookFlight(
        book_request([flight]), metadata=(("x-fail-at", "payment"),), timeout=30
    )
    assert pb.SagaStatus.Name(saga.status) == "COMPENSATED" and saga.fault_plan
    await refused(
        stack.orchestrator.ResumeSaga(
            pb.ResumeSagaRequest(saga_id=saga.saga_id, clear_faults=True), timeout=5
        ),
        "COMPENSATED",
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    after = await stack.orchestrator.GetSaga(pb.GetSagaRequest(saga_id=saga.saga_id))
    assert after.fault_plan == saga.fault_plan


async def test_an_oversized_request_is_refused_and_the_server_keeps_serving(stack: Stack) -> None:
    """Message size limits are set explicitly (1 MiB in): a bigger request is refused with
    RESOURCE_EXHAUSTED, and the service answers the next call as usual."""
    huge = pb.GetSagaRequest(saga_id="x" * (2 * 1024 * 1024))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stack.orchestrator.GetSaga(huge, timeout=10)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    stats = await stack.orchestrator.GetStats(pb.GetStatsRequest(), timeout=5)
    assert stats.total == 0


async def test_bytes_that_do_not_parse_are_invalid_argument(stack: Stack) -> None:
    """A raw call with garbage for the message: INVALID_ARGUMENT naming the request, not
    UNKNOWN "Wire format was corrupt"."""
    channel = grpc.aio.insecure_channel(stack.addrs["payment_service"])
    try:
        raw = channel.unary_unary(
            "/flightsaga.v1.PaymentService/Do",
            request_serializer=lambda b: b,
            response_deserializer=lambda b: b,
        )
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await raw(b"\xff\xff\xff\xff\x0f", timeout=5)
        assert info.value.code() == INVALID, info.value.details()
        assert (info.value.details() or "").startswith("request")
        orch = grpc.aio.insecure_channel(stack.orchestrator_addr)
        watch = orch.unary_stream(
            "/flightsaga.v1.Orchestrator/WatchSaga",
            request_serializer=lambda b: b,
            response_deserializer=lambda b: b,
        )
        with pytest.raises(grpc.aio.AioRpcError) as stream_info:
            async for _ in watch(b"\xff\xff\xff", timeout=5):
                pass
        assert stream_info.value.code() == INVALID
        await orch.close()
    finally:
        await channel.close()
