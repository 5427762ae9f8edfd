"""Flight search: the schedule joined with live availability. No match is a normal answer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flightsaga.v1.common_pb2 import CabinClass
from sagakit import validate
from sagakit.db import Conn
from sagakit.errors import InvalidArgument
from seat_service import inventory, schedule
from seat_service.schedule import Cabin, Flight

MAX_CODE = 8  # generous for IATA codes; anything else is simply not served


@dataclass(frozen=True)
class Query:
    origin: str
    destination: str
    day: date
    return_day: date | None
    cabin: Cabin
    passengers: int


@dataclass(frozen=True)
class Offer:
    flight: Flight
    cabin: Cabin
    fare_cents: int  # per passenger
    seats_available: int


def query(
    origin: str, destination: str, day: str, return_day: str, cabin: int, passengers: int
) -> Query:
    outbound = date.fromisoformat(validate.iso_date("date", day))
    back = validate.iso_date("return_date", return_day, required=False)
    inbound = date.fromisoformat(back) if back else None
    if inbound is not None and inbound < outbound:
        raise InvalidArgument("return_date", f"{back} is before the outbound date {day}")
    if passengers > inventory.MAX_PASSENGERS:
        raise InvalidArgument(
            "passengers", f"at most {inventory.MAX_PASSENGERS} per booking (got {passengers})"
        )
    return Query(
        origin=validate.text("origin", origin, MAX_CODE).upper(),
        destination=validate.text("destination", destination, MAX_CODE).upper(),
        day=outbound,
        return_day=inbound,
        cabin=inventory.cabin("cabin_class", cabin, default=CabinClass.ECONOMY),
        passengers=passengers or 1,
    )


def offers(conn: Conn, flights: list[Flight], cabin: Cabin) -> list[Offer]:
    free = inventory.free_counts(conn, flights)
    return [Offer(f, cabin, f.route.fare_cents(cabin), free[(f.flight_id, cabin)]) for f in flights]


def search(conn: Conn, q: Query) -> tuple[list[Offer], list[Offer]]:
    """(outbound, inbound) flights with at least `passengers` free seats in the cabin."""

    def legs(origin: str, destination: str, day: date | None) -> list[Offer]:
        if day is None:
            return []
        found = offers(conn, schedule.flights_between(origin, destination, day), q.cabin)
        return [o for o in found if o.seats_available >= q.passengers]

    return (
        legs(q.origin, q.destination, q.day),
        legs(q.destination, q.origin, q.return_day),
    )
