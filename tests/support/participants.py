"""One table describing the four participants for tests whose shape is shared.

Each Case knows how to build a Do / Compensate request for its service, the read RPC that shows
a saga's records, and a probe of the business state a user would notice (free seats, a balance,
money kept, a live booking). Tests are written once against this table.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from google.protobuf.message import Message

from flightsaga.v1 import (
    booking_pb2,
    booking_pb2_grpc,
    common_pb2,
    loyalty_pb2,
    loyalty_pb2_grpc,
    payment_pb2,
    payment_pb2_grpc,
    seat_pb2,
    seat_pb2_grpc,
)
from tests.support.dates import flight_id

FLIGHT = flight_id("FS101", 1)
ACCOUNT = "LOY-1002"  # Bob, 12,000 points
GOOD_CARD = common_pb2.Card(
    number="4242 4242 4242 4242", exp_month=12, exp_year=2031, cvc="123", holder_name="Bob Brooks"
)
PASSENGERS = [
    common_pb2.Passenger(first_name="Bob", last_name="Brooks"),
    common_pb2.Passenger(first_name="Ann", last_name="Brooks", date_of_birth="2015-04-01"),
]


def seat_do(saga_id: str, n: int = 0) -> seat_pb2.ReserveSeatsRequest:
    return seat_pb2.ReserveSeatsRequest(
        saga_id=saga_id,
        flight_ids=[FLIGHT],
        cabin_class=common_pb2.ECONOMY,
        passengers=PASSENGERS[: 1 + n % 2],
    )


def loyalty_do(saga_id: str, n: int = 0) -> loyalty_pb2.DeductPointsRequest:
    return loyalty_pb2.DeductPointsRequest(saga_id=saga_id, account_id=ACCOUNT, points=1000 + n)


def payment_do(saga_id: str, n: int = 0) -> payment_pb2.ChargeRequest:
    return payment_pb2.ChargeRequest(
        saga_id=saga_id, amount_cents=28_900 + n, currency="USD", card=GOOD_CARD
    )


def booking_do(saga_id: str, n: int = 0) -> booking_pb2.ConfirmBookingRequest:
    return booking_pb2.ConfirmBookingRequest(
        saga_id=saga_id,
        customer_id=ACCOUNT,
        passengers=PASSENGERS[:1],
        cabin_class=common_pb2.ECONOMY,
        seats=[common_pb2.SeatAssignment(flight_id=FLIGHT, passenger_index=0, seat=f"{11 + n}A")],
        flight_ids=[FLIGHT],
        fare_cents=28_900,
        points_used=1000,
        points_value_cents=1000,
        amount_charged_cents=27_900,
        transaction_id="txn_test",
        currency="USD",
    )


async def seat_business(stub: Any, saga_id: str) -> object:
    """Who holds which seat on the flight: a Compensate must give the seats back."""
    details = await stub.GetFlight(seat_pb2.GetFlightRequest(flight_id=FLIGHT))
    held = sorted((s.seat, s.saga_id) for c in details.cabins for s in c.seats if s.held)
    return held, details.flight.seats_available


async def loyalty_business(stub: Any, saga_id: str) -> object:
    return (await stub.GetAccount(loyalty_pb2.GetAccountRequest(account_id=ACCOUNT))).balance


async def payment_business(stub: Any, saga_id: str) -> object:
    """Money kept from the card for this saga (charges minus refunds)."""
    payments = await stub.GetPayments(common_pb2.SagaRecordsRequest(saga_id=saga_id))
    return sum(e.amount_cents if e.kind == "charge" else -e.amount_cents for e in payments.entries)


async def booking_business(stub: Any, saga_id: str) -> object:
    """Live (CONFIRMED) bookings of this saga."""
    records = await stub.GetBookingRecords(common_pb2.SagaRecordsRequest(saga_id=saga_id))
    return [b.booking_reference for b in records.bookings if b.status == "CONFIRMED"]


@dataclass(frozen=True)
class Case:
    service: str
    step: str
    stub: Callable[[grpc.aio.Channel], Any]
    full_name: str
    do_request: Callable[[str, int], Message]
    compensate_request: Callable[[str], Message]
    records_rpc: str  # the read RPC taking a SagaRecordsRequest
    business: Callable[[Any, str], Awaitable[object]]

    def __str__(self) -> str:
        return self.service

    async def records(self, stub: Any, saga_id: str) -> Any:
        return await getattr(stub, self.records_rpc)(common_pb2.SagaRecordsRequest(saga_id=saga_id))


CASES = (
    Case(
        "seat_service",
        "reserve_seat",
        seat_pb2_grpc.SeatServiceStub,
        "flightsaga.v1.SeatService",
        seat_do,
        lambda s: seat_pb2.ReleaseSeatsRequest(saga_id=s),
        "GetHolds",
        seat_business,
    ),
    Case(
        "loyalty_service",
        "deduct_loyalty_points",
        loyalty_pb2_grpc.LoyaltyServiceStub,
        "flightsaga.v1.LoyaltyService",
        loyalty_do,
        lambda s: loyalty_pb2.RefundPointsRequest(saga_id=s),
        "GetMovements",
        loyalty_business,
    ),
    Case(
        "payment_service",
        "process_payment",
        payment_pb2_grpc.PaymentServiceStub,
        "flightsaga.v1.PaymentService",
        payment_do,
        lambda s: payment_pb2.RefundRequest(saga_id=s),
        "GetPayments",
        payment_business,
    ),
    Case(
        "booking_service",
        "confirm_booking",
        booking_pb2_grpc.BookingServiceStub,
        "flightsaga.v1.BookingService",
        booking_do,
        lambda s: booking_pb2.CancelBookingRequest(saga_id=s),
        "GetBookingRecords",
        booking_business,
    ),
)
BY_SERVICE = {c.service: c for c in CASES}


def db_rows(target: Path | str) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table of a service's database (a SQLite file, or a PostgreSQL URL):
    'the database did not change'."""
    if isinstance(target, str) and target.startswith("postgresql://"):
        return _pg_rows(target)
    if isinstance(target, str):
        target = Path(target.removeprefix("sqlite:///"))
    conn = sqlite3.connect(f"file:{target}?mode=ro", uri=True)
    try:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in tables}
    finally:
        conn.close()


def _pg_rows(url: str) -> dict[str, list[tuple[object, ...]]]:
    import psycopg
    from psycopg import sql

    with psycopg.connect(url) as conn:
        tables = [
            str(r[0])
            for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ]
        return {
            t: sorted(
                (tuple(r) for r in conn.execute(sql.SQL("SELECT * FROM {}").format(
                    sql.Identifier(t)
                ))),
                key=repr,
            )
            for t in tables
        }  # fmt: skip
