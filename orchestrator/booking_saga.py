"""The orchestrator's side of the booking saga (sagas.booking declares it): its door (flights
looked up and the card tokenised before a saga exists, the typed request and facts of the Saga
message) and the card in its input — tokenised before the saga log keeps it, masked when shown
back, compared without it on an idempotent replay.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import grpc
from google.protobuf.message import Message

from flightsaga.v1 import common_pb2, orchestrator_pb2, payment_pb2, seat_pb2
from orchestrator.doors import SagaDoor
from orchestrator.engine.model import SagaRecord
from sagakit import context
from sagakit.errors import (
    BUSINESS_FAILURE_CODES,
    UNREACHABLE_CODES,
    DomainError,
    InvalidArgument,
    Reason,
    Unavailable,
)
from sagas.booking import BOOK_FLIGHT, facts, rules
from sagas.declare import SagaDeclaration
from sagas.peers import Peers

TOKENIZE_ATTEMPTS = 3
# Kept back from the caller's deadline to answer it: an UNAVAILABLE it can act on, not its own
# DEADLINE_EXCEEDED after the orchestrator went on retrying.
ANSWER_MARGIN_S = 0.25
MIN_CALL_S = 0.05

NAME = BOOK_FLIGHT.name


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


class BookingDoor(SagaDoor):
    """The booking saga's door: BookFlight, StartBooking and StartSaga("book_flight") all
    admit a booking through it."""

    # The bookings log keeps the format it had before other sagas were served.
    log_omits = ("saga", "saga_version")
    noun = "booking"

    def __init__(
        self, versions: tuple[SagaDeclaration, ...], peers: Peers, step_timeout: float
    ) -> None:
        super().__init__(versions)
        self.peers = peers
        self.step_timeout = step_timeout
        # flight id -> cabin class -> its seats (fixed per flight)
        self._layouts: dict[str, dict[int, frozenset[str]]] = {}
        # flight id -> its departure (UTC): a flight that has left is refused at the door
        self._departures: dict[str, datetime] = {}

    async def prepare(self, message: Message, owner: str) -> Message:
        assert isinstance(message, orchestrator_pb2.BookFlightRequest)
        await self._check_flights(message)
        request = await self._tokenized(message)
        # The saga's owner: who may read it with the booker role alone. It is part of the
        # payload, so another caller reusing this idempotency key cannot replay the saga.
        request.owner = owner
        return request

    def comparable(self, payload: bytes) -> bytes:
        return comparable(payload)

    def fill(self, saga: SagaRecord, msg: orchestrator_pb2.Saga) -> None:
        f = facts(saga.results(), saga.status == "COMPLETED")
        msg.request.CopyFrom(masked(orchestrator_pb2.BookFlightRequest.FromString(saga.payload)))
        msg.booking_reference = f.booking_reference
        msg.fare_cents = f.fare_cents
        msg.amount_charged_cents = f.amount_charged_cents
        msg.transaction_id = f.transaction_id
        msg.currency = f.currency

    async def _check_flights(self, req: orchestrator_pb2.BookFlightRequest) -> None:
        """Unknown flights, and selected seats that are not in the chosen cabin of their flight,
        are bad input, and a flight that has departed cannot be booked (FAILED_PRECONDITION,
        FLIGHT_DEPARTED): refuse before a saga exists. Layouts and departures are fixed per
        flight: cached."""
        now = datetime.now(UTC)
        for i, flight_id in enumerate(req.flight_ids):
            if flight_id in self._layouts:
                if self._departures[flight_id] <= now:
                    raise rules.departed(f"flight_ids[{i}]", flight_id, self._departures[flight_id])
                continue
            try:
                details = await self.peers.seat.GetFlight(
                    seat_pb2.GetFlightRequest(flight_id=flight_id), timeout=self._call_timeout()
                )
            except grpc.aio.AioRpcError as exc:
                if exc.code() in BUSINESS_FAILURE_CODES:
                    raise InvalidArgument(
                        f"flight_ids[{i}]", f"unknown flight {flight_id!r}"
                    ) from None
                return  # seat service unreachable: let the saga's retries deal with it
            self._layouts[flight_id] = {
                c.cabin_class: frozenset(s.seat for s in c.seats) for c in details.cabins
            }
            departure = details.flight.departure.ToDatetime(UTC)
            self._departures[flight_id] = departure
            if departure <= now:
                raise rules.departed(f"flight_ids[{i}]", flight_id, departure)
        cabin = common_pb2.CabinClass.Name(req.cabin_class)
        for i, sel in enumerate(req.seat_selections):
            layout = self._layouts.get(sel.flight_id.upper()) or self._layouts.get(sel.flight_id)
            if layout is None:
                continue  # not looked up (seat service unreachable): the seat service decides
            if sel.seat.strip().upper() not in layout.get(req.cabin_class, frozenset()):
                raise InvalidArgument(
                    f"seat_selections[{i}].seat",
                    f"{sel.seat!r} is not a {cabin} seat on {sel.flight_id}",
                )

    async def _tokenized(
        self, request: orchestrator_pb2.BookFlightRequest
    ) -> orchestrator_pb2.BookFlightRequest:
        """The request as the saga log keeps it: the card replaced by the payment service's
        token (and its last four digits), so no card number or CVC is stored here. The
        payment service is reached before a saga exists: unreachable, the call is UNAVAILABLE
        and nothing was started (retrying with the same key is safe)."""
        for attempt in range(1, TOKENIZE_ATTEMPTS + 1):
            try:
                reply = await self.peers.payment.Tokenize(
                    payment_pb2.TokenizeRequest(card=request.card), timeout=self._call_timeout()
                )
                return tokenized(request, reply)
            except grpc.aio.AioRpcError as exc:
                if exc.code() in BUSINESS_FAILURE_CODES:
                    raise DomainError.from_rpc(exc) from None
                if self._may_retry(attempt) and exc.code() in UNREACHABLE_CODES:
                    # A slow or restarting payment service: a token is only a vault row (an
                    # unused one harms nothing), so asking again is safe.
                    await asyncio.sleep(0.05 * attempt)
                    continue
                raise Unavailable(
                    f"the payment service could not tokenise the card ({exc.code().name}); "
                    "nothing was started, retrying is safe",
                    Reason.PEER_UNAVAILABLE,
                    peer="payment",
                ) from None
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _call_timeout(self) -> float:
        """The step timeout, cut to what the caller's deadline leaves (less the margin to
        answer it)."""
        left = context.time_left()
        if left is None:
            return self.step_timeout
        return max(MIN_CALL_S, min(self.step_timeout, left - ANSWER_MARGIN_S))

    @staticmethod
    def _may_retry(attempt: int) -> bool:
        """Another Tokenize attempt, if any are left and the caller's deadline leaves room."""
        left = context.time_left()
        return attempt < TOKENIZE_ATTEMPTS and (left is None or left > 2 * ANSWER_MARGIN_S)
