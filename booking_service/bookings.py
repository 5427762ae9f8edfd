"""Confirmed bookings: created by the saga's last step, cancelled by its compensation."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

from booking_service import pnr
from flightsaga.v1.common_pb2 import CabinClass
from sagakit import validate
from sagakit.barrier import now_iso
from sagakit.db import Conflict, Conn, IntegrityError, savepoint
from sagakit.errors import InvalidArgument, NotFound

log = logging.getLogger("booking_service.bookings")

CONFIRMED = "CONFIRMED"
CANCELLED = "CANCELLED"
CURRENCY = "USD"
MAX_LEGS = validate.MAX_LEGS
MAX_PASSENGERS = validate.MAX_PASSENGERS
MAX_CENTS = 10**9
# Collisions are ~1 in a billion per try; a run of them means the generator is broken.
MAX_REFERENCE_TRIES = 20


@dataclass(frozen=True)
class Itinerary:
    """What a booking confirms; stored as one JSON document (it is only ever read whole)."""

    passengers: list[tuple[str, str, str]]  # first name, last name, date of birth
    cabin_class: int
    seats: list[tuple[str, int, str]]  # flight_id, passenger_index, seat
    flight_ids: list[str]
    fare_cents: int
    points_used: int
    points_value_cents: int
    amount_charged_cents: int
    transaction_id: str
    currency: str


@dataclass(frozen=True)
class Booking:
    reference: str
    saga_id: str
    customer_id: str
    status: str
    itinerary: Itinerary
    created_at: str
    cancelled_at: str | None


def itinerary(
    passengers: list[tuple[str, str, str]],
    cabin_class: int,
    seats: list[tuple[str, int, str]],
    flight_ids: list[str],
    amounts: dict[str, int],
    transaction_id: str,
    currency: str,
) -> Itinerary:
    """Validate what the saga collected; every error names its field."""
    validate.count("passengers", passengers, 1, MAX_PASSENGERS)
    people = [
        (first, last, dob)
        for first, last, dob in (
            validate.passenger(f"passengers[{i}]", *p) for i, p in enumerate(passengers)
        )
    ]
    if cabin_class not in CabinClass.values() or cabin_class == CabinClass.CABIN_CLASS_UNSPECIFIED:
        raise InvalidArgument("cabin_class", "is required (ECONOMY, PREMIUM_ECONOMY, ...)")
    validate.count("flight_ids", flight_ids, 1, MAX_LEGS)
    legs = [validate.text(f"flight_ids[{i}]", f).upper() for i, f in enumerate(flight_ids)]
    validate.count("seats", seats, 1, MAX_LEGS * MAX_PASSENGERS)
    held: list[tuple[str, int, str]] = []
    for i, (fid, index, seat) in enumerate(seats):
        flight = validate.text(f"seats[{i}].flight_id", fid).upper()
        if flight not in legs:
            raise InvalidArgument(f"seats[{i}].flight_id", f"{flight} is not one of flight_ids")
        if index >= len(people):
            raise InvalidArgument(f"seats[{i}].passenger_index", f"{index} is out of range")
        held.append((flight, index, validate.text(f"seats[{i}].seat", seat, 4).upper()))
    cents = {k: validate.non_negative(k, v, MAX_CENTS) for k, v in amounts.items()}
    cur = validate.text("currency", currency, 8, required=False).upper() or CURRENCY
    if cur != CURRENCY:
        raise InvalidArgument("currency", f"only {CURRENCY} is accepted (got {cur!r})")
    return Itinerary(
        passengers=people,
        cabin_class=cabin_class,
        seats=held,
        flight_ids=legs,
        fare_cents=cents.get("fare_cents", 0),
        points_used=cents.get("points_used", 0),
        points_value_cents=cents.get("points_value_cents", 0),
        amount_charged_cents=cents.get("amount_charged_cents", 0),
        transaction_id=validate.text("transaction_id", transaction_id, required=False),
        currency=cur,
    )


def confirm(
    conn: Conn,
    saga_id: str,
    customer_id: str,
    it: Itinerary,
    new_reference: Callable[[], str] = pnr.new_reference,
) -> Booking:
    """Insert the booking under a fresh reference, drawing again on a collision."""
    doc = json.dumps(it.__dict__)
    now = now_iso()
    for _ in range(MAX_REFERENCE_TRIES):
        ref = new_reference()
        try:
            with savepoint(conn):  # a collision must not end the transaction (PostgreSQL)
                conn.execute(
                    "INSERT INTO bookings (reference, saga_id, customer_id, status, itinerary,"
                    " created_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (ref, saga_id, customer_id, CONFIRMED, doc, now),
                )
        except IntegrityError as exc:
            if _by(conn, "saga_id", saga_id) is not None:
                raise  # not a reference collision: the barrier should have prevented this
            if "saga_id" in str(exc):
                # A concurrent Do of this saga committed first (after our snapshot): run again,
                # and the barrier replays its answer.
                raise Conflict(f"a booking for saga {saga_id} was made concurrently") from exc
            log.info("booking reference %s is taken; drawing another", ref)
            continue
        log.info("[SAGA STEP] booking %s CONFIRMED for %s", ref, customer_id)
        return Booking(ref, saga_id, customer_id, CONFIRMED, it, now, None)
    raise RuntimeError(f"no free booking reference after {MAX_REFERENCE_TRIES} tries")


def cancel(conn: Conn, saga_id: str) -> Booking:
    conn.execute(
        "UPDATE bookings SET status=?, cancelled_at=? WHERE saga_id=? AND status=?",
        (CANCELLED, now_iso(), saga_id, CONFIRMED),
    )
    booking = _by(conn, "saga_id", saga_id)
    if booking is None:
        # The barrier only calls this after a committed Do, which always creates the booking.
        raise RuntimeError(f"no booking for saga {saga_id}")
    log.info("[COMPENSATION] booking %s CANCELLED", booking.reference)
    return booking


def find(conn: Conn, reference: str = "", saga_id: str = "") -> Booking:
    booking = _by(conn, "reference", reference) if reference else _by(conn, "saga_id", saga_id)
    if booking is None:
        what = f"booking_reference {reference!r}" if reference else f"saga_id {saga_id!r}"
        raise NotFound(f"no booking with {what}")
    return booking


def of_saga(conn: Conn, saga_id: str) -> list[Booking]:
    booking = _by(conn, "saga_id", saga_id)
    return [] if booking is None else [booking]


def _by(conn: Conn, column: str, value: str) -> Booking | None:
    assert column in ("reference", "saga_id")
    row = conn.execute(f"SELECT * FROM bookings WHERE {column}=?", (value,)).fetchone()
    if row is None:
        return None
    doc = json.loads(row["itinerary"])
    it = Itinerary(
        **{
            **doc,
            "passengers": [tuple(p) for p in doc["passengers"]],
            "seats": [tuple(s) for s in doc["seats"]],
        }
    )
    return Booking(
        row["reference"],
        row["saga_id"],
        row["customer_id"],
        row["status"],
        it,
        row["created_at"],
        row["cancelled_at"],
    )
