"""What each service says, as plain data: the orchestrator's sagas and the participants' own
records (read through their read RPCs), so the invariants can be checked (and unit-tested)
without gRPC."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

import grpc

from flightsaga.v1 import common_pb2, loyalty_pb2, seat_pb2
from flightsaga.v1 import orchestrator_pb2 as pb
from sagas.peers import Peers

T = TypeVar("T")
TERMINAL = frozenset({"COMPLETED", "COMPENSATED"})


@dataclass(frozen=True)
class SagaView:
    """The orchestrator's record of a saga (its status is what the participants are checked
    against; nothing else from it is trusted)."""

    saga_id: str
    key: str
    status: str
    booking_reference: str = ""
    error: str = ""


@dataclass(frozen=True)
class Hold:
    flight_id: str
    seat: str
    active: bool  # not released


@dataclass(frozen=True)
class BookingRow:
    reference: str
    status: str
    transaction_id: str
    points_used: int
    amount_charged_cents: int
    seats: frozenset[tuple[str, str]]  # (flight_id, seat)


@dataclass
class ParticipantRecords:
    """One saga's records at the four participants."""

    saga_id: str
    holds: list[Hold] = field(default_factory=list)
    movements: list[tuple[str, str, int]] = field(default_factory=list)  # (account, kind, delta)
    charges: list[tuple[str, int]] = field(default_factory=list)  # (transaction id, cents)
    refunds: list[int] = field(default_factory=list)
    bookings: list[BookingRow] = field(default_factory=list)
    read_error: str = ""


@dataclass(frozen=True)
class FlightView:
    flight_id: str
    seats_available: int  # economy, as the seat service reports it
    economy_seats: int
    holders: dict[str, str]  # seat -> saga id, every cabin, active holds only
    economy_held: int


async def bounded(items: Iterable[T], fn: Callable[[T], Awaitable[None]], limit: int) -> None:
    sem = asyncio.Semaphore(limit)

    async def one(item: T) -> None:
        async with sem:
            await fn(item)

    await asyncio.gather(*(one(i) for i in items))


async def list_sagas(peers: Peers) -> dict[str, SagaView]:
    out: dict[str, SagaView] = {}
    token = ""
    while True:
        page = await peers.orchestrator.ListSagas(
            pb.ListSagasRequest(page_size=200, page_token=token), timeout=30
        )
        for s in page.sagas:
            out[s.saga_id] = SagaView(
                s.saga_id,
                s.idempotency_key,
                pb.SagaStatus.Name(s.status),
                s.booking_reference,
                s.error,
            )
        token = page.next_page_token
        if not token:
            return out


async def read_participants(
    peers: Peers, saga_ids: Iterable[str], limit: int = 32
) -> dict[str, ParticipantRecords]:
    out: dict[str, ParticipantRecords] = {}

    async def one(saga_id: str) -> None:
        req = common_pb2.SagaRecordsRequest(saga_id=saga_id)
        rec = ParticipantRecords(saga_id)
        out[saga_id] = rec
        try:
            holds, moves, pays, books = await asyncio.gather(
                peers.seat.GetHolds(req, timeout=30),
                peers.loyalty.GetMovements(req, timeout=30),
                peers.payment.GetPayments(req, timeout=30),
                peers.booking.GetBookingRecords(req, timeout=30),
            )
        except grpc.aio.AioRpcError as exc:
            rec.read_error = f"{exc.code().name}: {exc.details()}"
            return
        rec.holds = [Hold(h.flight_id, h.seat, not h.HasField("released_at")) for h in holds.holds]
        rec.movements = [(m.account_id, m.kind, m.delta) for m in moves.movements]
        rec.charges = [(e.entry_id, e.amount_cents) for e in pays.entries if e.kind == "charge"]
        rec.refunds = [e.amount_cents for e in pays.entries if e.kind == "refund"]
        rec.bookings = [
            BookingRow(
                b.booking_reference,
                b.status,
                b.transaction_id,
                b.points_used,
                b.amount_charged_cents,
                frozenset((s.flight_id, s.seat) for s in b.seats),
            )
            for b in books.bookings
        ]

    await bounded(list(saga_ids), one, limit)
    return out


async def read_flights(peers: Peers, flight_ids: Iterable[str]) -> dict[str, FlightView]:
    out: dict[str, FlightView] = {}

    async def one(fid: str) -> None:
        d = await peers.seat.GetFlight(seat_pb2.GetFlightRequest(flight_id=fid), timeout=30)
        holders: dict[str, str] = {}
        economy, economy_held = 0, 0
        for cabin in d.cabins:
            for s in cabin.seats:
                if s.held:
                    holders[s.seat] = s.saga_id
                if cabin.cabin_class == common_pb2.ECONOMY:
                    economy += 1
                    economy_held += s.held
        out[fid] = FlightView(fid, d.flight.seats_available, economy, holders, economy_held)

    await bounded(sorted(set(flight_ids)), one, 16)
    return out


async def read_balances(peers: Peers, accounts: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for account in sorted(set(accounts)):
        reply = await peers.loyalty.GetAccount(
            loyalty_pb2.GetAccountRequest(account_id=account), timeout=30
        )
        out[account] = reply.balance
    return out
