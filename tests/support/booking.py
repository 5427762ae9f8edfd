"""Booking requests and participant-record proofs shared by orchestrator-level tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import grpc

from flightsaga.v1 import booking_pb2, common_pb2, seat_pb2
from flightsaga.v1 import orchestrator_pb2 as pb
from flightsaga.v1.common_pb2 import SagaRecordsRequest
from tests.support.dates import flight_date
from tests.support.stack import Stack

T = TypeVar("T")

GOOD_CARD = "4242424242424242"

# A mix of the faults a saga meets, for the chaos tests (one per saga, round robin): clean runs,
# delays, transient outages, lost replies, failures compensated, compensations retried.
MIXED_FAULTS: list[dict[str, str]] = [
    {},
    {},
    {"x-fault": "payment:delay=700"},
    {"x-fault": "booking:transient=2"},
    {"x-fault": "payment:lost-reply"},
    {"x-fail-at": "booking", "x-fault": "loyalty:compensate-fail=2"},
    {"x-fail-at": "payment"},
    {"x-fault": "seat:delay=900,loyalty:transient=1"},
]
DECLINED_CARD = "4000000000000002"


def book_request(
    flight_ids: list[str],
    customer: str = "LOY-1001",
    points: int = 1000,
    passengers: int = 1,
    card: str = GOOD_CARD,
    seats: list[common_pb2.SeatSelection] | None = None,
) -> pb.BookFlightRequest:
    return pb.BookFlightRequest(
        customer_id=customer,
        flight_ids=flight_ids,
        passengers=[
            common_pb2.Passenger(first_name=f"Pax{i}", last_name="Tester")
            for i in range(passengers)
        ],
        cabin_class=common_pb2.ECONOMY,
        loyalty_points=points,
        card=common_pb2.Card(
            number=card, exp_month=12, exp_year=2031, cvc="123", holder_name="Pax Tester"
        ),
        seat_selections=seats or [],
    )


async def first_flight(stack: Stack, origin: str = "JFK", dest: str = "LAX", date: str = "") -> str:
    """The first flight of the day (default: tomorrow, so it has not departed)."""
    found = await stack.seat.SearchFlights(
        seat_pb2.SearchFlightsRequest(origin=origin, destination=dest, date=date or flight_date(1))
    )
    return found.outbound[0].flight_id


@dataclass
class Proof:
    """What the participants' own records say about one saga."""

    seats_held: int
    seats_released: int
    points_delta: int
    charged_cents: int
    refunded_cents: int
    charges: int
    refunds: int
    booking_status: str


async def proof(stack: Stack, saga_id: str) -> Proof:
    req = SagaRecordsRequest(saga_id=saga_id)
    holds = await stack.seat.GetHolds(req)
    moves = await stack.loyalty.GetMovements(req)
    pays = await stack.payment.GetPayments(req)
    books: booking_pb2.BookingRecords = await stack.booking.GetBookingRecords(req)
    charges = [e for e in pays.entries if e.kind == "charge"]
    refunds = [e for e in pays.entries if e.kind == "refund"]
    return Proof(
        seats_held=sum(1 for h in holds.holds if not h.HasField("released_at")),
        seats_released=sum(1 for h in holds.holds if h.HasField("released_at")),
        points_delta=sum(m.delta for m in moves.movements),
        charged_cents=sum(e.amount_cents for e in charges),
        refunded_cents=sum(e.amount_cents for e in refunds),
        charges=len(charges),
        refunds=len(refunds),
        booking_status=books.bookings[0].status if books.bookings else "",
    )


async def check_records(stack: Stack, sagas: list[pb.Saga], points: dict[str, int]) -> int:
    """Every saga's participant records agree with how it ended (points spent by idempotency
    key); returns the points the completed ones spent."""
    spent = 0
    for saga in sagas:
        p = await proof(stack, saga.saga_id)
        status = pb.SagaStatus.Name(saga.status)
        if status == "COMPLETED":
            pts = points[saga.idempotency_key]
            spent += pts
            assert (p.seats_held, p.points_delta, p.charges, p.refunds) == (1, -pts, 1, 0), saga
            assert p.booking_status == "CONFIRMED"
        else:
            assert status == "COMPENSATED", saga
            assert p.seats_held == 0, saga.saga_id
            assert p.points_delta == 0, saga.saga_id
            assert p.charged_cents == p.refunded_cents and p.charges <= 1
            assert p.booking_status in ("", "CANCELLED")
    return spent


async def admitted(send: Callable[[], Awaitable[T]], within: float = 120.0) -> T:
    """`send()` as a well-behaved client sends it: answered RESOURCE_EXHAUSTED (the
    orchestrator's admission limit: nothing was started), it waits and sends it again."""
    end = time.monotonic() + within
    while True:
        try:
            return await send()
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.RESOURCE_EXHAUSTED or time.monotonic() > end:
                raise
        await asyncio.sleep(0.25)
