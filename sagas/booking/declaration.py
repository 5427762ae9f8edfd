"""The flight-booking saga: reserve_seat -> deduct_loyalty_points -> process_payment ->
confirm_booking.

Prices come from the seat service's fares; points convert at 1 point = 1 cent; payment charges
the rest. Each step's Do request is built from the BookFlight request and the earlier steps'
replies; every compensation is its participant's `Compensate(saga_id)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flightsaga.v1 import (
    booking_pb2,
    booking_pb2_grpc,
    common_pb2,
    loyalty_pb2,
    loyalty_pb2_grpc,
    orchestrator_pb2,
    payment_pb2,
    payment_pb2_grpc,
    seat_pb2,
    seat_pb2_grpc,
)
from sagas.booking.rules import check
from sagas.declare import Participant, SagaDeclaration, Sample, Step

NAME = "book_flight"

# ---- the participants ---------------------------------------------------------------------

SEAT = Participant(
    "seat", "seat_service", 1, "SEAT_SERVICE_ADDR", "seat service",
    seat_pb2_grpc.SeatServiceStub,
    seat_pb2.ReserveSeatsRequest, seat_pb2.ReserveSeatsResponse,
    seat_pb2.ReleaseSeatsRequest, seat_pb2.ReleaseSeatsResponse,
)  # fmt: skip
LOYALTY = Participant(
    "loyalty", "loyalty_service", 2, "LOYALTY_SERVICE_ADDR", "loyalty service",
    loyalty_pb2_grpc.LoyaltyServiceStub,
    loyalty_pb2.DeductPointsRequest, loyalty_pb2.DeductPointsResponse,
    loyalty_pb2.RefundPointsRequest, loyalty_pb2.RefundPointsResponse,
)  # fmt: skip
PAYMENT = Participant(
    "payment", "payment_service", 3, "PAYMENT_SERVICE_ADDR", "payment service",
    payment_pb2_grpc.PaymentServiceStub,
    payment_pb2.ChargeRequest, payment_pb2.ChargeResponse,
    payment_pb2.RefundRequest, payment_pb2.RefundResponse,
)  # fmt: skip
BOOKING = Participant(
    "booking", "booking_service", 4, "BOOKING_SERVICE_ADDR", "booking service",
    booking_pb2_grpc.BookingServiceStub,
    booking_pb2.ConfirmBookingRequest, booking_pb2.ConfirmBookingResponse,
    booking_pb2.CancelBookingRequest, booking_pb2.CancelBookingResponse,
)  # fmt: skip

# ---- each step's Do request, from the booking and the earlier steps' replies -------------
# (also what the benchmark's raw chain sends, so its floor is this saga's own calls)


def seat_request(
    saga_id: str, req: orchestrator_pb2.BookFlightRequest
) -> seat_pb2.ReserveSeatsRequest:
    return seat_pb2.ReserveSeatsRequest(
        saga_id=saga_id,
        flight_ids=req.flight_ids,
        cabin_class=req.cabin_class,
        passengers=req.passengers,
        seat_selections=req.seat_selections,
    )


def points_request(
    saga_id: str, req: orchestrator_pb2.BookFlightRequest, seats: seat_pb2.ReserveSeatsResponse
) -> loyalty_pb2.DeductPointsRequest:
    return loyalty_pb2.DeductPointsRequest(
        saga_id=saga_id,
        account_id=req.customer_id,
        points=req.loyalty_points,
        max_value_cents=seats.fare_cents,
    )


def charge_request(
    saga_id: str,
    req: orchestrator_pb2.BookFlightRequest,
    seats: seat_pb2.ReserveSeatsResponse,
    points: loyalty_pb2.DeductPointsResponse,
) -> payment_pb2.ChargeRequest:
    return payment_pb2.ChargeRequest(
        saga_id=saga_id,
        amount_cents=max(0, seats.fare_cents - points.value_cents),
        currency=seats.currency or "USD",
        card=req.card,
        description=f"FlightSaga {' / '.join(req.flight_ids)}"[:200],
    )


def confirm_request(
    saga_id: str,
    req: orchestrator_pb2.BookFlightRequest,
    seats: seat_pb2.ReserveSeatsResponse,
    points: loyalty_pb2.DeductPointsResponse,
    payment: payment_pb2.ChargeResponse,
) -> booking_pb2.ConfirmBookingRequest:
    return booking_pb2.ConfirmBookingRequest(
        saga_id=saga_id,
        customer_id=req.customer_id,
        passengers=req.passengers,
        cabin_class=req.cabin_class,
        seats=seats.seats,
        flight_ids=req.flight_ids,
        fare_cents=seats.fare_cents,
        points_used=points.points_deducted,
        points_value_cents=points.value_cents,
        amount_charged_cents=payment.amount_cents,
        transaction_id=payment.transaction_id,
        currency=payment.currency or seats.currency or "USD",
    )


# ---- what a finished saga's results say -----------------------------------------------------

RESERVE_SEAT = "reserve_seat"
DEDUCT_LOYALTY_POINTS = "deduct_loyalty_points"
PROCESS_PAYMENT = "process_payment"
CONFIRM_BOOKING = "confirm_booking"


@dataclass(frozen=True)
class Facts:
    """What a booking saga's step results say, as the API's Saga message shows it."""

    booking_reference: str
    fare_cents: int
    amount_charged_cents: int
    transaction_id: str
    currency: str


def facts(results: Mapping[str, Mapping[str, Any]], completed: bool) -> Facts:
    """The booking's facts from its step results (the reference only once it completed): the
    one place outside the steps themselves that knows which step says what."""
    booking = results.get(CONFIRM_BOOKING, {})
    seats = results.get(RESERVE_SEAT, {})
    payment = results.get(PROCESS_PAYMENT, {})
    return Facts(
        booking_reference=booking.get("booking_reference", "") if completed else "",
        fare_cents=int(seats.get("fare_cents", 0) or 0),
        amount_charged_cents=int(payment.get("amount_cents", 0) or 0),
        transaction_id=payment.get("transaction_id", ""),
        currency=seats.get("currency", "") or "USD",
    )


def summarize(results: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    booking = results.get(CONFIRM_BOOKING, {})
    payment = results.get(PROCESS_PAYMENT, {})
    return {
        "booking_reference": booking.get("booking_reference", ""),
        "transaction_id": payment.get("transaction_id", ""),
    }


# ---- a sample booking, for conformance checks ---------------------------------------------


def sample(variant: int) -> Sample:
    """A one-passenger booking a month ahead with a test card that approves; each variant
    names another passenger, at another fare, for other points (another body at every step,
    and at a step added later that reads any of them)."""
    day = datetime.now(UTC).date() + timedelta(days=30)
    flight = f"FS101-{day:%Y%m%d}"
    points, fare = 100 + variant, 20000 + 100 * variant
    req = orchestrator_pb2.BookFlightRequest(
        customer_id="LOY-1004",
        flight_ids=[flight],
        cabin_class=common_pb2.ECONOMY,
        passengers=[common_pb2.Passenger(first_name="Conform", last_name=f"Variant{variant}")],
        loyalty_points=points,
        card=common_pb2.Card(
            number="4242424242424242", exp_month=12, exp_year=day.year + 3, cvc="123",
            holder_name="Conform Check",
        ),
    )  # fmt: skip
    seat = common_pb2.SeatAssignment(flight_id=flight, passenger_index=0, seat="30A")
    return Sample(req, {
        RESERVE_SEAT: seat_pb2.ReserveSeatsResponse(
            fare_cents=fare, currency="USD", seats=[seat]),
        DEDUCT_LOYALTY_POINTS: loyalty_pb2.DeductPointsResponse(
            points_deducted=points, value_cents=points),
        PROCESS_PAYMENT: payment_pb2.ChargeResponse(
            amount_cents=fare - points, transaction_id=f"TXN-SAMPLE-{variant}", currency="USD"),
    })  # fmt: skip


# ---- THE booking saga -----------------------------------------------------------------------

BOOK_FLIGHT = SagaDeclaration(
    NAME,
    orchestrator_pb2.BookFlightRequest,
    steps=(
        Step(RESERVE_SEAT, SEAT, seat_request,
             keep=("fare_cents", "currency", "seats"), aliases=("seat",),
             title="Reserve Seat", short="Reserve seat", undo="release the held seats"),
        Step(DEDUCT_LOYALTY_POINTS, LOYALTY, points_request,
             keep=("points_deducted", "value_cents"), aliases=("loyalty", "points"),
             title="Deduct Points", short="Deduct points", undo="refund the points"),
        Step(PROCESS_PAYMENT, PAYMENT, charge_request,
             keep=("amount_cents", "transaction_id", "currency"), aliases=("payment",),
             title="Process Payment", short="Process payment", undo="refund the charge"),
        Step(CONFIRM_BOOKING, BOOKING, confirm_request, aliases=("booking",),
             title="Confirm Booking", short="Confirm booking", undo="cancel the booking"),
    ),
    summarize=summarize,
    title="Book a flight",
    check=check,
    sample=sample,
)  # fmt: skip

PARTICIPANTS = tuple(step.participant for step in BOOK_FLIGHT.steps)
STEP_ORDER = BOOK_FLIGHT.step_names
ALIASES = BOOK_FLIGHT.aliases


def canonical_step(name: str, field: str) -> str:
    """A booking step's wire name or alias (any case) -> the wire name; unknown names are
    INVALID_ARGUMENT."""
    return BOOK_FLIGHT.canonical_step(name, field)
