"""The flight-booking saga, defined with the generic engine.

reserve_seat -> deduct_loyalty_points -> process_payment -> confirm_booking. Prices come from
the seat service's fares; points convert at 1 point = 1 cent; payment charges the rest. Each
step's input is built from the BookFlight request and the earlier steps' replies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from flightsaga.v1 import (
    booking_pb2,
    common_pb2,
    loyalty_pb2,
    orchestrator_pb2,
    payment_pb2,
    seat_pb2,
)
from orchestrator import participant_calls as calls
from orchestrator.engine.definition import RetryPolicy, SagaDefinition, StepCall, StepSpec
from sagakit import steps
from sagakit.config import TlsConfig
from sagakit.peers import Peers
from sagakit.plainjson import plain

M = TypeVar("M", bound=Message)

NAME = "book_flight"
POINT_VALUE_CENTS = 1


def to_dict(message: Message) -> dict[str, Any]:
    """A participant's reply as the saga log keeps it: every field, numbers as numbers."""
    return plain(message, every_field=True)


# The fields later steps read from each earlier reply (scalars, or repeated messages).
_READ_LATER = {
    steps.RESERVE_SEAT: ("fare_cents", "currency", "seats"),
    steps.DEDUCT_LOYALTY_POINTS: ("points_deducted", "value_cents"),
    steps.PROCESS_PAYMENT: ("amount_cents", "transaction_id", "currency"),
}
_INTEGER = {
    FieldDescriptor.CPPTYPE_INT32,
    FieldDescriptor.CPPTYPE_INT64,
    FieldDescriptor.CPPTYPE_UINT32,
    FieldDescriptor.CPPTYPE_UINT64,
}


def _reply(results: Mapping[str, Mapping[str, Any]], step: str, message: M) -> M:
    """An earlier step's reply, rebuilt from its logged JSON form (to_dict: int64 as strings)
    with just the fields later steps read; cheaper than json_format.ParseDict of all of it."""
    reply = results[step]
    fields = message.DESCRIPTOR.fields_by_name
    for name in _READ_LATER[step]:
        if name not in reply:
            continue
        value, field = reply[name], fields[name]
        if field.message_type is not None:
            repeated = getattr(message, name)
            for item in value:
                json_format.ParseDict(item, repeated.add(), ignore_unknown_fields=True)
        elif field.cpp_type in _INTEGER:
            setattr(message, name, int(value))
        else:
            setattr(message, name, value)
    return message


def comparable(payload: bytes) -> bytes:
    """A stored request as compared with a replay's (same idempotency key): the card as its
    last four digits and expiry, so a card tokenised twice (a new token each time), or stored
    in full by an earlier release, still compares equal."""
    req = orchestrator_pb2.BookFlightRequest.FromString(payload)
    digits = "".join(c for c in req.card.number if c.isdigit())
    req.card.number = f"****{digits[-4:]}"
    req.card.cvc = ""
    req.card.token = ""
    return req.SerializeToString(deterministic=True)


def tokenized(
    req: orchestrator_pb2.BookFlightRequest, reply: payment_pb2.TokenizeResponse
) -> orchestrator_pb2.BookFlightRequest:
    """The request with its card replaced by the payment service's token (and last four
    digits): what the saga log keeps, so no card number or CVC is stored."""
    out = orchestrator_pb2.BookFlightRequest()
    out.CopyFrom(req)
    card = req.card
    out.card.CopyFrom(
        common_pb2.Card(
            number=f"****{reply.last4}",
            exp_month=card.exp_month,
            exp_year=card.exp_year,
            holder_name=card.holder_name,
            token=reply.token,
        )
    )
    return out


def masked(req: orchestrator_pb2.BookFlightRequest) -> orchestrator_pb2.BookFlightRequest:
    """The request as shown back to clients: card number reduced to its last 4 digits, no CVC."""
    out = orchestrator_pb2.BookFlightRequest()
    out.CopyFrom(req)
    digits = "".join(c for c in req.card.number if c.isdigit())
    out.card.number = f"****{digits[-4:]}" if digits else ""
    out.card.cvc = ""
    return out


def participants(
    seat: str, loyalty: str, payment: str, booking: str, tls: TlsConfig | None = None
) -> Peers:
    """The saga's four participants. `tls`: the orchestrator's own certificate, its identity to
    the participants (mTLS); no bearer token (participants know the orchestrator by it)."""
    addrs = {"seat": seat, "loyalty": loyalty, "payment": payment, "booking": booking}
    return Peers(addrs, tls=tls, token="")


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


def build(peers: Peers, step_timeout: float, retry: RetryPolicy) -> SagaDefinition:
    def request(call: StepCall) -> orchestrator_pb2.BookFlightRequest:
        return orchestrator_pb2.BookFlightRequest.FromString(call.payload)

    async def reserve_seat(call: StepCall) -> dict[str, Any]:
        req = seat_request(call.saga_id, request(call))
        reply = await calls.call(peers.seat.Do, req, call, steps.RESERVE_SEAT)
        return to_dict(reply)

    async def deduct_points(call: StepCall) -> dict[str, Any]:
        seats = _reply(call.results, steps.RESERVE_SEAT, seat_pb2.ReserveSeatsResponse())
        req = points_request(call.saga_id, request(call), seats)
        reply = await calls.call(peers.loyalty.Do, req, call, steps.DEDUCT_LOYALTY_POINTS)
        return to_dict(reply)

    async def charge(call: StepCall) -> dict[str, Any]:
        seats = _reply(call.results, steps.RESERVE_SEAT, seat_pb2.ReserveSeatsResponse())
        points = _reply(
            call.results, steps.DEDUCT_LOYALTY_POINTS, loyalty_pb2.DeductPointsResponse()
        )
        req = charge_request(call.saga_id, request(call), seats, points)
        reply = await calls.call(peers.payment.Do, req, call, steps.PROCESS_PAYMENT)
        return to_dict(reply)

    async def confirm(call: StepCall) -> dict[str, Any]:
        seats = _reply(call.results, steps.RESERVE_SEAT, seat_pb2.ReserveSeatsResponse())
        points = _reply(
            call.results, steps.DEDUCT_LOYALTY_POINTS, loyalty_pb2.DeductPointsResponse()
        )
        payment = _reply(call.results, steps.PROCESS_PAYMENT, payment_pb2.ChargeResponse())
        req = confirm_request(call.saga_id, request(call), seats, points, payment)
        reply = await calls.call(peers.booking.Do, req, call, steps.CONFIRM_BOOKING)
        return to_dict(reply)

    def compensation(method: Any, request_type: Any, step: str) -> Any:
        """Every compensation is `Compensate(saga_id)` on the step's participant."""

        async def run(call: StepCall) -> dict[str, Any]:
            request = request_type(saga_id=call.saga_id)
            return to_dict(await calls.call(method, request, call, step, forward=False))

        return run

    release_seats = compensation(
        peers.seat.Compensate, seat_pb2.ReleaseSeatsRequest, steps.RESERVE_SEAT
    )
    refund_points = compensation(
        peers.loyalty.Compensate, loyalty_pb2.RefundPointsRequest, steps.DEDUCT_LOYALTY_POINTS
    )
    refund_payment = compensation(
        peers.payment.Compensate, payment_pb2.RefundRequest, steps.PROCESS_PAYMENT
    )
    cancel_booking = compensation(
        peers.booking.Compensate, booking_pb2.CancelBookingRequest, steps.CONFIRM_BOOKING
    )

    def step(name: str, action: Any, compensation: Any) -> StepSpec:
        return StepSpec(name, action, compensation, step_timeout, retry)

    return SagaDefinition(
        name=NAME,
        steps=(
            step(steps.RESERVE_SEAT, reserve_seat, release_seats),
            step(steps.DEDUCT_LOYALTY_POINTS, deduct_points, refund_points),
            step(steps.PROCESS_PAYMENT, charge, refund_payment),
            step(steps.CONFIRM_BOOKING, confirm, cancel_booking),
        ),
        summarize=summarize,
    )


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
    booking = results.get(steps.CONFIRM_BOOKING, {})
    seats = results.get(steps.RESERVE_SEAT, {})
    payment = results.get(steps.PROCESS_PAYMENT, {})
    return Facts(
        booking_reference=booking.get("booking_reference", "") if completed else "",
        fare_cents=int(seats.get("fare_cents", 0) or 0),
        amount_charged_cents=int(payment.get("amount_cents", 0) or 0),
        transaction_id=payment.get("transaction_id", ""),
        currency=seats.get("currency", "") or "USD",
    )


def summarize(results: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    booking = results.get(steps.CONFIRM_BOOKING, {})
    payment = results.get(steps.PROCESS_PAYMENT, {})
    return {
        "booking_reference": booking.get("booking_reference", ""),
        "transaction_id": payment.get("transaction_id", ""),
    }
