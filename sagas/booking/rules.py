"""What makes a booking request valid: the one source of those rules.

The orchestrator checks every BookFlight against them before a saga exists; the dashboard and
the CLI check their requests with the same function before sending, so a user sees the same
answer, naming the same field, wherever a booking starts. Participants keep the checks of their
own domain (a seat's cabin, an account's balance), which only they can make.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from flightsaga.v1 import common_pb2, orchestrator_pb2
from sagakit import card_fields, validate
from sagakit.errors import InvalidArgument, Reason, Rejected

MAX_LEGS = validate.MAX_LEGS
MAX_PASSENGERS = validate.MAX_PASSENGERS


def check(req: orchestrator_pb2.BookFlightRequest, today: date | None = None) -> None:
    """Everything that can be checked before a saga exists (no I/O); each error names the
    field. Input refused here starts no saga and leaves no participant record."""
    validate.text("customer_id", req.customer_id)
    validate.count("flight_ids", req.flight_ids, 1, MAX_LEGS)
    seen: set[str] = set()
    for i, flight in enumerate(req.flight_ids):
        fid = validate.text(f"flight_ids[{i}]", flight).upper()
        if fid in seen:
            raise InvalidArgument(f"flight_ids[{i}]", f"{fid} is listed twice")
        seen.add(fid)
    validate.count("passengers", req.passengers, 1, MAX_PASSENGERS)
    for i, p in enumerate(req.passengers):
        validate.text(f"passengers[{i}].first_name", p.first_name, validate.MAX_NAME)
        validate.text(f"passengers[{i}].last_name", p.last_name, validate.MAX_NAME)
        dob = validate.iso_date(f"passengers[{i}].date_of_birth", p.date_of_birth, required=False)
        if dob and date.fromisoformat(dob) > (today or datetime.now(UTC).date()):
            raise InvalidArgument(f"passengers[{i}].date_of_birth", "is in the future")
    if req.cabin_class == common_pb2.CABIN_CLASS_UNSPECIFIED:
        raise InvalidArgument(
            "cabin_class", "is required (ECONOMY, PREMIUM_ECONOMY, BUSINESS, FIRST)"
        )
    if req.cabin_class not in common_pb2.CabinClass.values():
        raise InvalidArgument("cabin_class", f"unknown value {req.cabin_class}")
    validate.non_negative("loyalty_points", req.loyalty_points, 10**9)
    if not req.HasField("card"):
        raise InvalidArgument("card", "is required")
    c = req.card
    card_fields.check(
        c.number, c.exp_month, c.exp_year, c.cvc, c.holder_name, today or datetime.now(UTC).date()
    )
    picked: set[tuple[str, int]] = set()
    for i, sel in enumerate(req.seat_selections):
        field = f"seat_selections[{i}]"
        fid = validate.text(f"{field}.flight_id", sel.flight_id).upper()
        if fid not in seen:
            raise InvalidArgument(f"{field}.flight_id", f"{fid} is not one of flight_ids")
        if not 0 <= sel.passenger_index < len(req.passengers):
            raise InvalidArgument(
                f"{field}.passenger_index",
                f"{sel.passenger_index} is out of range (passengers: {len(req.passengers)})",
            )
        if (fid, sel.passenger_index) in picked:
            raise InvalidArgument(field, f"passenger {sel.passenger_index} already has a seat")
        picked.add((fid, sel.passenger_index))
        validate.text(f"{field}.seat", sel.seat, 4)


def departed(field: str, flight_id: str, departure: datetime) -> Rejected:
    """A booking of a flight that has left: FAILED_PRECONDITION, reason FLIGHT_DEPARTED, naming
    the field and the departure (UTC). The orchestrator answers it before a saga exists, the
    seat service when a reservation reaches it anyway."""
    at = departure.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Rejected(
        f"{field}: flight {flight_id} departed at {at}; book a later flight",
        Reason.FLIGHT_DEPARTED,
        field=field,
        flight_id=flight_id,
        departure=at,
    )
