"""What each participant does beyond the shared contract: search, seat maps, sold-out flights,
loyalty caps, card declines and refunds, booking references; plus races under concurrency."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, time, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest

from booking_service.pnr import ALPHABET
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
from sagakit.errors import Reason, details_of
from seat_service import schedule
from seat_service.schedule import AHEAD_DAYS
from tests.support.dates import at, days_to, flight_date, flight_id
from tests.support.participants import (
    FLIGHT,
    GOOD_CARD,
    booking_do,
    db_rows,
    payment_do,
)
from tests.support.services import running_service

SOLD_OUT = grpc.StatusCode.FAILED_PRECONDITION


async def _stub(service: str, tmp_path: Path, factory: Any) -> AsyncIterator[Any]:
    async with (
        running_service(service, tmp_path) as addr,
        grpc.aio.insecure_channel(addr) as channel,
    ):
        yield factory(channel)


@pytest.fixture
async def seat(tmp_path: Path) -> AsyncIterator[Any]:
    async for stub in _stub("seat_service", tmp_path, seat_pb2_grpc.SeatServiceStub):
        yield stub


@pytest.fixture
async def loyalty(tmp_path: Path) -> AsyncIterator[Any]:
    async for stub in _stub("loyalty_service", tmp_path, loyalty_pb2_grpc.LoyaltyServiceStub):
        yield stub


@pytest.fixture
async def payment(tmp_path: Path) -> AsyncIterator[Any]:
    async for stub in _stub("payment_service", tmp_path, payment_pb2_grpc.PaymentServiceStub):
        yield stub


@pytest.fixture
async def booking(tmp_path: Path) -> AsyncIterator[Any]:
    async for stub in _stub("booking_service", tmp_path, booking_pb2_grpc.BookingServiceStub):
        yield stub


def people(n: int) -> list[common_pb2.Passenger]:
    return [common_pb2.Passenger(first_name=f"P{i}", last_name="Test") for i in range(n)]


def reserve(
    saga_id: str,
    n: int = 1,
    flights: tuple[str, ...] = (FLIGHT,),
    cabin: int = common_pb2.ECONOMY,
    seats: tuple[tuple[str, int, str], ...] = (),
) -> seat_pb2.ReserveSeatsRequest:
    return seat_pb2.ReserveSeatsRequest(
        saga_id=saga_id,
        flight_ids=list(flights),
        cabin_class=cabin,  # type: ignore[arg-type]
        passengers=people(n),
        seat_selections=[
            common_pb2.SeatSelection(flight_id=f, passenger_index=i, seat=s) for f, i, s in seats
        ],
    )


async def outcome(call: Any) -> grpc.StatusCode:
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


async def cabin_map(seat: Any, flight: str, cabin: int) -> Any:
    details = await seat.GetFlight(seat_pb2.GetFlightRequest(flight_id=flight))
    (found,) = [c for c in details.cabins if c.cabin_class == cabin]
    return found


# --- seat_service ------------------------------------------------------------------------------


async def test_search_round_trip_lists_both_directions_by_departure(seat: Any) -> None:
    found = await seat.SearchFlights(
        seat_pb2.SearchFlightsRequest(
            origin="jfk", destination="LAX", date=flight_date(1), return_date=flight_date(5)
        )
    )
    assert [leg.flight_id for leg in found.outbound] == [
        flight_id("FS101", 1),
        flight_id("FS103", 1),
        flight_id("FS105", 1),
    ]
    assert {(leg.origin, leg.destination) for leg in found.inbound} == {("LAX", "JFK")}
    assert all(leg.flight_id.endswith(flight_id("", 5)) for leg in found.inbound)
    first = found.outbound[0]
    # 08:00 in New York (EST or EDT, as the day has it); 6h25m later it lands.
    departure = at(1, time(8)).astimezone(UTC)
    assert first.departure.ToDatetime(UTC) == departure
    assert first.arrival.ToDatetime(UTC) == departure + timedelta(minutes=385)
    assert first.cabin_class == common_pb2.ECONOMY
    assert first.fare_cents > 0
    assert first.seats_available == 150


async def test_search_follows_daylight_saving_time(seat: Any) -> None:
    found = await seat.SearchFlights(
        seat_pb2.SearchFlightsRequest(
            origin="JFK", destination="LAX", date=flight_date(days_to(summer=True))
        )
    )
    # 08:00 in New York on EDT (UTC-4) is 12:00 UTC; on EST (UTC-5), 13:00.
    assert found.outbound[0].departure.ToDatetime(UTC).hour == 12
    winter = await seat.SearchFlights(
        seat_pb2.SearchFlightsRequest(
            origin="JFK", destination="LAX", date=flight_date(days_to(summer=False))
        )
    )
    assert winter.outbound[0].departure.ToDatetime(UTC).hour == 13


async def test_a_departed_flight_gets_no_new_hold_naming_the_field_and_the_departure(
    seat: Any,
) -> None:
    gone = flight_id("FS101", -1)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await seat.Do(reserve("late", flights=(flight_id("FS103", 1), gone)))
    err = caught.value
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION, err.details()
    info = details_of(err)
    assert (info.reason, info.field) == (Reason.FLIGHT_DEPARTED, "flight_ids[1]")
    departure = (await seat.GetFlight(seat_pb2.GetFlightRequest(flight_id=gone))).flight.departure
    at_utc = departure.ToDatetime(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (
        err.details() == f"flight_ids[1]: flight {gone} departed at {at_utc}; book a later flight"
    )
    assert info.metadata["departure"] == at_utc
    holds = await seat.GetHolds(common_pb2.SagaRecordsRequest(saga_id="late"))
    assert not holds.holds  # nothing held on the other leg either


async def test_holds_taken_before_departure_still_replay_and_release(
    seat: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A saga that reserved before its flight left (an upgrade's or a recovery's) still ends:
    its Do replays its first answer and its Compensate releases the seats."""
    gone = flight_id("FS101", -1)
    with monkeypatch.context() as before_departure:
        before_departure.setattr(schedule, "departed", lambda flight, now=None: False)
        first = await seat.Do(reserve("early", flights=(gone,)))
    assert await seat.Do(reserve("early", flights=(gone,))) == first
    released = await seat.Compensate(seat_pb2.ReleaseSeatsRequest(saga_id="early"))
    assert released.seats_released == 1


@pytest.mark.parametrize(
    ("origin", "destination", "day"),
    [
        ("JFK", "XYZ", flight_date(1)),
        ("BOS", "LHR", flight_date(1)),
        ("JFK", "LAX", flight_date(AHEAD_DAYS + 1)),
    ],
)
async def test_search_with_no_match_is_an_empty_answer(
    seat: Any, origin: str, destination: str, day: str
) -> None:
    found = await seat.SearchFlights(
        seat_pb2.SearchFlightsRequest(origin=origin, destination=destination, date=day)
    )
    assert list(found.outbound) == [] and list(found.inbound) == []


async def test_search_shows_cabin_fares_and_hides_flights_without_enough_seats(seat: Any) -> None:
    await seat.Do(reserve("fill-first", n=7, cabin=common_pb2.FIRST))  # 8 FIRST seats on FS101

    def ask(n: int) -> seat_pb2.SearchFlightsRequest:
        return seat_pb2.SearchFlightsRequest(
            origin="JFK",
            destination="LAX",
            date=flight_date(1),
            cabin_class=common_pb2.FIRST,
            passengers=n,
        )

    one = await seat.SearchFlights(ask(1))
    two = await seat.SearchFlights(ask(2))
    economy = await seat.SearchFlights(
        seat_pb2.SearchFlightsRequest(origin="JFK", destination="LAX", date=flight_date(1))
    )
    assert one.outbound[0].flight_id == FLIGHT and one.outbound[0].seats_available == 1
    assert FLIGHT not in [leg.flight_id for leg in two.outbound]
    assert one.outbound[0].fare_cents > economy.outbound[0].fare_cents


async def test_fare_is_per_passenger_per_leg_in_the_cabin(seat: Any) -> None:
    legs = (flight_id("FS101", 1), flight_id("FS102", 5))
    reply = await seat.Do(reserve("s1", n=3, flights=legs, cabin=common_pb2.BUSINESS))
    per_leg = []
    for fid in legs:
        per_leg.append((await cabin_map(seat, fid, common_pb2.BUSINESS)).fare_cents)
    assert reply.fare_cents == 3 * sum(per_leg)
    assert reply.currency == "USD"
    assert [leg.flight_id for leg in reply.legs] == list(legs)
    assert len(reply.seats) == 6
    assert {(s.flight_id, s.passenger_index) for s in reply.seats} == {
        (f, i) for f in legs for i in range(3)
    }


async def test_seat_selection_is_honoured_and_shown_on_the_seat_map(seat: Any) -> None:
    reply = await seat.Do(reserve("s1", n=2, seats=((FLIGHT, 1, "12c"),)))
    chosen = {s.passenger_index: s.seat for s in reply.seats}
    assert chosen[1] == "12C"
    economy = await cabin_map(seat, FLIGHT, common_pb2.ECONOMY)
    held = {s.seat: s.saga_id for s in economy.seats if s.held}
    assert held == {chosen[0]: "s1", "12C": "s1"}


async def test_a_taken_seat_is_refused_and_nothing_is_held(seat: Any, tmp_path: Path) -> None:
    await seat.Do(reserve("s1", seats=((FLIGHT, 0, "12C"),)))
    rows = db_rows(tmp_path / "seat_service.db")
    code = await outcome(seat.Do(reserve("s2", n=2, seats=((FLIGHT, 1, "12C"),))))
    assert code == SOLD_OUT
    assert db_rows(tmp_path / "seat_service.db") == rows


async def test_all_or_nothing_when_a_later_leg_is_sold_out(seat: Any, tmp_path: Path) -> None:
    await seat.Do(reserve("fill", n=5, flights=(flight_id("FS202", 3),), cabin=common_pb2.FIRST))
    rows = db_rows(tmp_path / "seat_service.db")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await seat.Do(
            reserve(
                "s2",
                n=2,
                flights=(flight_id("FS201", 1), flight_id("FS202", 3)),
                cabin=common_pb2.FIRST,
            )
        )
    assert info.value.code() == SOLD_OUT
    assert "sold out" in (info.value.details() or "")
    assert db_rows(tmp_path / "seat_service.db") == rows
    first = await cabin_map(seat, flight_id("FS201", 1), common_pb2.FIRST)
    assert not any(s.held for s in first.seats)


async def test_released_holds_stay_as_history_and_the_seats_are_free_again(seat: Any) -> None:
    await seat.Do(reserve("s1", n=2))
    await seat.Compensate(seat_pb2.ReleaseSeatsRequest(saga_id="s1"))
    holds = await seat.GetHolds(common_pb2.SagaRecordsRequest(saga_id="s1"))
    assert len(holds.holds) == 2
    assert all(h.HasField("held_at") and h.HasField("released_at") for h in holds.holds)
    # The same seats can be held by the next saga.
    again = await seat.Do(reserve("s2", n=2))
    assert {s.seat for s in again.seats} == {h.seat for h in holds.holds}


async def test_50_sagas_racing_for_the_last_10_seats_hold_exactly_10(
    seat: Any, tmp_path: Path
) -> None:
    cabin = common_pb2.PREMIUM_ECONOMY  # 24 seats on the A321neo
    await seat.Do(reserve("fill-1", n=9, cabin=cabin))
    await seat.Do(reserve("fill-2", n=5, cabin=cabin))

    codes = await asyncio.gather(
        *(seat.Do(reserve(f"race-{i}", cabin=cabin)) for i in range(50)), return_exceptions=True
    )

    won = [c for c in codes if not isinstance(c, BaseException)]
    lost = [c for c in codes if isinstance(c, grpc.aio.AioRpcError)]
    assert len(won) == 10 and len(lost) == 40
    assert {e.code() for e in lost} == {SOLD_OUT}
    seat_map = await cabin_map(seat, FLIGHT, cabin)
    assert all(s.held for s in seat_map.seats)
    assert sorted(r.seats[0].seat for r in won) == sorted(
        s.seat for s in seat_map.seats if s.saga_id.startswith("race-")
    )


async def test_20_sagas_racing_for_one_named_seat_one_wins(seat: Any) -> None:
    codes = await asyncio.gather(
        *(outcome(seat.Do(reserve(f"r{i}", seats=((FLIGHT, 0, "20F"),)))) for i in range(20))
    )
    assert codes.count(grpc.StatusCode.OK) == 1
    assert codes.count(SOLD_OUT) == 19


# --- loyalty_service ---------------------------------------------------------------------------


def deduct(saga_id: str, points: int, account: str = "LOY-1002", cap: int = 0) -> Any:
    return loyalty_pb2.DeductPointsRequest(
        saga_id=saga_id, account_id=account, points=points, max_value_cents=cap
    )


async def balance(loyalty: Any, account: str = "LOY-1002") -> int:
    return int(
        (await loyalty.GetAccount(loyalty_pb2.GetAccountRequest(account_id=account))).balance
    )


async def test_seeded_accounts(loyalty: Any) -> None:
    alice = await loyalty.GetAccount(loyalty_pb2.GetAccountRequest(account_id="loy-1001"))
    assert (alice.account_id, alice.tier, alice.balance) == ("LOY-1001", "GOLD", 50_000)
    assert await balance(loyalty, "LOY-1003") == 0


async def test_deduction_and_refund_are_in_the_ledger(loyalty: Any) -> None:
    reply = await loyalty.Do(deduct("s1", 2500, cap=28_900))
    assert (reply.points_deducted, reply.value_cents, reply.balance_after) == (2500, 2500, 9500)
    refund = await loyalty.Compensate(loyalty_pb2.RefundPointsRequest(saga_id="s1"))
    assert (refund.points_refunded, refund.balance_after) == (2500, 12_000)
    moves = await loyalty.GetMovements(common_pb2.SagaRecordsRequest(saga_id="s1"))
    assert [(m.kind, m.delta, m.balance_after) for m in moves.movements] == [
        ("deduction", -2500, 9500),
        ("refund", 2500, 12_000),
    ]


async def test_zero_points_records_a_zero_movement(loyalty: Any) -> None:
    reply = await loyalty.Do(deduct("s1", 0))
    assert reply.balance_after == 12_000
    moves = await loyalty.GetMovements(common_pb2.SagaRecordsRequest(saga_id="s1"))
    assert [(m.kind, m.delta) for m in moves.movements] == [("deduction", 0)]


@pytest.mark.parametrize(
    ("request_msg", "words"),
    [
        (deduct("s1", 12_001), "insufficient points"),
        (deduct("s1", 1, account="LOY-1003"), "insufficient points"),
        (deduct("s1", 5000, cap=4999), "worth 5000 cents"),
    ],
)
async def test_refusals_leave_the_balance_alone(
    loyalty: Any, tmp_path: Path, request_msg: Any, words: str
) -> None:
    rows = db_rows(tmp_path / "loyalty_service.db")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await loyalty.Do(request_msg)
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert words in (info.value.details() or "")
    assert db_rows(tmp_path / "loyalty_service.db") == rows


async def test_50_concurrent_deductions_never_overdraw(loyalty: Any) -> None:
    codes = await asyncio.gather(*(outcome(loyalty.Do(deduct(f"s{i}", 1000))) for i in range(50)))
    assert codes.count(grpc.StatusCode.OK) == 12  # 12,000 points / 1,000
    assert codes.count(grpc.StatusCode.FAILED_PRECONDITION) == 38
    assert await balance(loyalty) == 0


# --- payment_service ---------------------------------------------------------------------------


def charge(saga_id: str, number: str = "4242424242424242", amount: int = 28_900) -> Any:
    card = common_pb2.Card()
    card.CopyFrom(GOOD_CARD)
    card.number = number
    return payment_pb2.ChargeRequest(saga_id=saga_id, amount_cents=amount, card=card)


async def test_approved_charge(payment: Any) -> None:
    reply = await payment.Do(charge("s1"))
    assert re.fullmatch(r"txn_[0-9a-f]{24}", reply.transaction_id)
    assert (reply.amount_cents, reply.currency) == (28_900, "USD")  # empty currency means USD
    assert (reply.card_last4, reply.card_brand) == ("4242", "visa")
    other = await payment.Do(charge("s2"))
    assert other.transaction_id != reply.transaction_id


@pytest.mark.parametrize(
    ("number", "reason"),
    [("4000000000000002", "card_declined"), ("4000 0000 0000 9995", "insufficient_funds")],
)
async def test_test_cards_decline_with_the_reason(
    payment: Any, tmp_path: Path, number: str, reason: str
) -> None:
    rows = db_rows(tmp_path / "payment_service.db")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await payment.Do(charge("s1", number))
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason in (info.value.details() or "")
    assert db_rows(tmp_path / "payment_service.db") == rows


async def test_refund_happens_exactly_once_for_the_full_amount(payment: Any) -> None:
    paid = await payment.Do(charge("s1", amount=45_600))
    first = await payment.Compensate(payment_pb2.RefundRequest(saga_id="s1"))
    again = await payment.Compensate(payment_pb2.RefundRequest(saga_id="s1"))
    assert first.refund_id.startswith("re_") and first.amount_cents == 45_600
    assert again == first
    ledger = await payment.GetPayments(common_pb2.SagaRecordsRequest(saga_id="s1"))
    assert [(e.kind, e.entry_id, e.amount_cents) for e in ledger.entries] == [
        ("charge", paid.transaction_id, 45_600),
        ("refund", first.refund_id, 45_600),
    ]


async def test_a_zero_charge_is_allowed(payment: Any) -> None:
    """Points can pay the whole fare; the card is still checked and a zero charge recorded."""
    request = payment_do("s1")
    request.amount_cents = 0
    reply = await payment.Do(request)
    assert reply.amount_cents == 0


# --- booking_service ---------------------------------------------------------------------------


async def test_booking_reference_and_lookup(booking: Any) -> None:
    reply = await booking.Do(booking_do("s1"))
    assert reply.status == "CONFIRMED"
    assert re.fullmatch(f"[{ALPHABET}]{{6}}", reply.booking_reference)
    by_ref = await booking.GetBooking(
        booking_pb2.GetBookingRequest(booking_reference=reply.booking_reference.lower())
    )
    by_saga = await booking.GetBooking(booking_pb2.GetBookingRequest(saga_id="s1"))
    assert by_ref == by_saga
    assert (by_ref.customer_id, by_ref.fare_cents, by_ref.amount_charged_cents) == (
        "LOY-1002",
        28_900,
        27_900,
    )
    assert [p.first_name for p in by_ref.passengers] == ["Bob"]
    assert [(s.flight_id, s.seat) for s in by_ref.seats] == [(FLIGHT, "11A")]
    assert by_ref.transaction_id == "txn_test"


async def test_references_are_unique(booking: Any) -> None:
    replies = await asyncio.gather(*(booking.Do(booking_do(f"s{i}")) for i in range(30)))
    assert len({r.booking_reference for r in replies}) == 30


async def test_cancelled_booking_stays_readable(booking: Any) -> None:
    made = await booking.Do(booking_do("s1"))
    cancel = await booking.Compensate(booking_pb2.CancelBookingRequest(saga_id="s1"))
    assert (cancel.booking_reference, cancel.status) == (made.booking_reference, "CANCELLED")
    shown = await booking.GetBooking(
        booking_pb2.GetBookingRequest(booking_reference=made.booking_reference)
    )
    assert shown.status == "CANCELLED" and shown.HasField("cancelled_at")
