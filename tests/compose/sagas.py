"""Booking sagas against the compose stack, and the participants' own records as the proof."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import grpc

from flightsaga.v1 import common_pb2, seat_pb2
from flightsaga.v1 import orchestrator_pb2 as pb
from flightsaga.v1.common_pb2 import SagaRecordsRequest
from tests.compose.stackctl import Clients
from tests.support.dates import flight_date

CUSTOMER = "LOY-1004"  # 250,000 points: room for many sagas
POINTS = 100
TERMINAL = (pb.COMPLETED, pb.COMPENSATED, pb.FAILED)


def status(saga: pb.Saga) -> str:
    return pb.SagaStatus.Name(saga.status)


async def roomiest_flight(clients: Clients, date: str = flight_date(1)) -> str:
    """The JFK->LAX flight of the day with the most free economy seats."""
    found: seat_pb2.SearchFlightsResponse = await clients.seat.SearchFlights(
        seat_pb2.SearchFlightsRequest(
            origin="JFK", destination="LAX", date=date, cabin_class=common_pb2.ECONOMY
        ),
        timeout=10,
    )
    assert found.outbound, f"no JFK-LAX flight on {date}"
    best: seat_pb2.Leg = max(found.outbound, key=lambda leg: leg.seats_available)
    return best.flight_id


def book_request(flight_id: str, tag: str) -> pb.BookFlightRequest:
    return pb.BookFlightRequest(
        customer_id=CUSTOMER,
        flight_ids=[flight_id],
        passengers=[common_pb2.Passenger(first_name="Compose", last_name=f"Tester{tag}")],
        cabin_class=common_pb2.ECONOMY,
        loyalty_points=POINTS,
        card=common_pb2.Card(
            number="4242424242424242",
            exp_month=12,
            exp_year=2031,
            cvc="123",
            holder_name="Compose Tester",
        ),
    )


async def start(
    clients: Clients, req: pb.BookFlightRequest, fault: str = "", wait: float = 1.0
) -> pb.Saga:
    """BookFlight with a short deadline: the orchestrator answers with the saga as it stands."""
    metadata = (("x-fault", fault),) if fault else ()
    saga: pb.Saga = await clients.orchestrator.BookFlight(req, metadata=metadata, timeout=wait)
    return saga


async def wait_terminal(clients: Clients, saga_id: str, timeout: float = 120.0) -> pb.Saga:
    """Poll GetSaga until the saga is COMPLETED, COMPENSATED or FAILED."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            saga: pb.Saga = await clients.orchestrator.GetSaga(
                pb.GetSagaRequest(saga_id=saga_id), timeout=5
            )
        except grpc.aio.AioRpcError as exc:
            # The orchestrator may still be coming back up.
            if exc.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise
        else:
            if saga.status in TERMINAL:
                return saga
        if time.monotonic() > deadline:
            raise AssertionError(f"saga {saga_id} not terminal after {timeout:.0f}s")
        await asyncio.sleep(0.25)


@dataclass
class Records:
    """What the four participants' read RPCs say about one saga."""

    seats_held: int
    seats_released: int
    points_delta: int
    charges: int
    charged_cents: int
    refunds: int
    refunded_cents: int
    booking_statuses: list[str]
    booking_refs: list[str]


async def records(clients: Clients, saga_id: str) -> Records:
    req = SagaRecordsRequest(saga_id=saga_id)
    holds, moves, pays, books = await asyncio.gather(
        clients.seat.GetHolds(req, timeout=10),
        clients.loyalty.GetMovements(req, timeout=10),
        clients.payment.GetPayments(req, timeout=10),
        clients.booking.GetBookingRecords(req, timeout=10),
    )
    charges = [e for e in pays.entries if e.kind == "charge"]
    refunds = [e for e in pays.entries if e.kind == "refund"]
    return Records(
        seats_held=sum(1 for h in holds.holds if not h.HasField("released_at")),
        seats_released=sum(1 for h in holds.holds if h.HasField("released_at")),
        points_delta=sum(m.delta for m in moves.movements),
        charges=len(charges),
        charged_cents=sum(e.amount_cents for e in charges),
        refunds=len(refunds),
        refunded_cents=sum(e.amount_cents for e in refunds),
        booking_statuses=[b.status for b in books.bookings],
        booking_refs=[b.booking_reference for b in books.bookings],
    )


async def assert_records_agree(clients: Clients, saga: pb.Saga) -> Records:
    """The participants' records match the saga's ending: nothing leaked, nothing doubled."""
    rec = await records(clients, saga.saga_id)
    where = f"saga {saga.saga_id} {status(saga)} ({saga.fault_plan or 'no faults'}): {rec}"
    if saga.status == pb.COMPLETED:
        assert rec.seats_held == 1 and rec.seats_released == 0, where
        assert rec.points_delta == -POINTS, where
        assert rec.charges == 1 and rec.refunds == 0, where
        assert rec.charged_cents == saga.amount_charged_cents, where
        assert rec.booking_statuses == ["CONFIRMED"], where
        assert rec.booking_refs == [saga.booking_reference], where
    elif saga.status == pb.COMPENSATED:
        assert rec.seats_held == 0, where
        assert rec.points_delta == 0, where
        assert rec.charges <= 1 and rec.charged_cents == rec.refunded_cents, where
        assert all(s == "CANCELLED" for s in rec.booking_statuses), where
    else:
        raise AssertionError(f"not COMPLETED or COMPENSATED: {where}; error: {saga.error}")
    return rec
