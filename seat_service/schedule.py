"""The flight schedule, generated deterministically in code (nothing to load or seed).

FlightSaga Air flies 12 routes, 2-3 flights a day each, every day. The schedule rolls with the
clock: flights can be booked up to AHEAD_DAYS days from today, and searched from HISTORY_DAYS
back. A departed flight stays known by its id, however old (`find`), so a saga that held seats
on it before it left still replays and releases them; only a new hold on it is refused.
A flight id is `<flight number>-<local departure date>`, e.g. "FS101-20261201".
Departure times are local to the origin airport (DST included), stored and sent as UTC.
Nothing is stored per flight: seats are held by flight id, lazily (inventory.py).

Fares are per route and cabin, in USD cents, for one passenger on one leg.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import TypeAlias

from flightsaga.v1.common_pb2 import CabinClass
from sagas.booking.airports import AIRPORTS

HISTORY_DAYS = 366
AHEAD_DAYS = 180
CURRENCY = "USD"

Cabin: TypeAlias = CabinClass.ValueType

# Cabins from the front of the aircraft to the back.
CABINS = (CabinClass.FIRST, CabinClass.BUSINESS, CabinClass.PREMIUM_ECONOMY, CabinClass.ECONOMY)


@dataclass(frozen=True)
class CabinLayout:
    cabin: Cabin
    first_row: int
    last_row: int
    letters: str

    def seats(self) -> tuple[str, ...]:
        return tuple(
            f"{row}{letter}"
            for row in range(self.first_row, self.last_row + 1)
            for letter in self.letters
        )


@dataclass(frozen=True)
class Aircraft:
    name: str
    cabins: tuple[CabinLayout, ...]

    @cache  # noqa: B019 - aircraft are module-level constants, never garbage
    def seats(self, cabin: Cabin) -> tuple[str, ...]:
        """The seats of one cabin in assignment order (front to back, window to aisle)."""
        for layout in self.cabins:
            if layout.cabin == cabin:
                return layout.seats()
        return ()

    def cabin_of(self, seat: str) -> Cabin | None:
        for layout in self.cabins:
            if seat in self.seats(layout.cabin):
                return layout.cabin
        return None


A321 = Aircraft(
    "Airbus A321neo",
    (
        CabinLayout(CabinClass.FIRST, 1, 2, "ACDF"),
        CabinLayout(CabinClass.BUSINESS, 3, 6, "ACDF"),
        CabinLayout(CabinClass.PREMIUM_ECONOMY, 7, 10, "ABCDEF"),
        CabinLayout(CabinClass.ECONOMY, 11, 35, "ABCDEF"),
    ),
)
B789 = Aircraft(
    "Boeing 787-9",
    (
        CabinLayout(CabinClass.FIRST, 1, 2, "AEFK"),
        CabinLayout(CabinClass.BUSINESS, 3, 9, "ADGK"),
        CabinLayout(CabinClass.PREMIUM_ECONOMY, 10, 13, "ACDFHK"),
        CabinLayout(CabinClass.ECONOMY, 14, 40, "ABCDEFHJK"),
    ),
)
E175 = Aircraft(
    "Embraer E175",
    (
        CabinLayout(CabinClass.FIRST, 1, 2, "ACD"),
        CabinLayout(CabinClass.BUSINESS, 3, 4, "ACD"),
        CabinLayout(CabinClass.PREMIUM_ECONOMY, 5, 7, "ACDF"),
        CabinLayout(CabinClass.ECONOMY, 8, 20, "ACDF"),
    ),
)

# Cabin fare = economy fare x multiplier, rounded to whole dollars.
_CABIN_MULTIPLIER: dict[Cabin, float] = {
    CabinClass.ECONOMY: 1.0,
    CabinClass.PREMIUM_ECONOMY: 1.6,
    CabinClass.BUSINESS: 3.5,
    CabinClass.FIRST: 5.5,
}


@dataclass(frozen=True)
class Route:
    origin: str
    destination: str
    minutes: int
    aircraft: Aircraft
    economy_cents: int
    # flight number -> local departure time
    departures: tuple[tuple[str, time], ...]

    def fare_cents(self, cabin: Cabin) -> int:
        return round(self.economy_cents * _CABIN_MULTIPLIER[cabin] / 100) * 100


ROUTES = (
    Route(
        "JFK",
        "LAX",
        385,
        A321,
        289_00,
        (("FS101", time(8)), ("FS103", time(13)), ("FS105", time(18, 30))),
    ),
    Route(
        "LAX",
        "JFK",
        330,
        A321,
        279_00,
        (("FS102", time(7)), ("FS104", time(12, 30)), ("FS106", time(22))),
    ),
    Route("JFK", "SFO", 400, A321, 299_00, (("FS111", time(7, 15)), ("FS113", time(17, 45)))),
    Route("SFO", "JFK", 335, A321, 289_00, (("FS112", time(8, 5)), ("FS114", time(23)))),
    Route(
        "BOS",
        "ORD",
        165,
        E175,
        149_00,
        (("FS201", time(6, 30)), ("FS203", time(12)), ("FS205", time(19, 10))),
    ),
    Route(
        "ORD",
        "BOS",
        135,
        E175,
        149_00,
        (("FS202", time(9, 45)), ("FS204", time(15, 20)), ("FS206", time(20, 5))),
    ),
    Route("JFK", "LHR", 415, B789, 649_00, (("FS301", time(18, 30)), ("FS303", time(22, 15)))),
    Route("LHR", "JFK", 485, B789, 629_00, (("FS302", time(9, 40)), ("FS304", time(14, 5)))),
    Route("SEA", "DEN", 165, E175, 139_00, (("FS401", time(7, 20)), ("FS403", time(16, 50)))),
    Route("DEN", "SEA", 175, E175, 139_00, (("FS402", time(10, 15)), ("FS404", time(19, 35)))),
    Route(
        "LAX",
        "SFO",
        85,
        E175,
        99_00,
        (("FS501", time(6)), ("FS503", time(11, 30)), ("FS505", time(18))),
    ),
    Route(
        "SFO",
        "LAX",
        85,
        E175,
        99_00,
        (("FS502", time(8, 30)), ("FS504", time(14)), ("FS506", time(20, 30))),
    ),
)

_BY_NUMBER: dict[str, tuple[Route, time]] = {
    number: (route, dep) for route in ROUTES for number, dep in route.departures
}
_FLIGHT_ID = re.compile(r"^(FS\d{3})-(\d{8})$")


@dataclass(frozen=True)
class Flight:
    flight_id: str
    number: str
    route: Route
    departure: datetime  # aware, origin's local time
    arrival: datetime  # aware, destination's local time

    @property
    def aircraft(self) -> Aircraft:
        return self.route.aircraft


def _flight(number: str, day: date) -> Flight:
    route, dep_time = _BY_NUMBER[number]
    departure = datetime.combine(day, dep_time, AIRPORTS[route.origin])
    arrival = (departure + timedelta(minutes=route.minutes)).astimezone(AIRPORTS[route.destination])
    return Flight(f"{number}-{day:%Y%m%d}", number, route, departure, arrival)


def today() -> date:
    """The schedule's today (UTC): the window of flights rolls with it."""
    return datetime.now(UTC).date()


def first_day() -> date:
    """The oldest day still on the schedule (its flights have departed)."""
    return today() - timedelta(days=HISTORY_DAYS)


def last_day() -> date:
    """The furthest day one can book."""
    return today() + timedelta(days=AHEAD_DAYS)


def in_season(day: date) -> bool:
    """Whether a search of this day lists flights (the rolling window)."""
    return first_day() <= day <= last_day()


def departed(flight: Flight, now: datetime | None = None) -> bool:
    """Whether the flight has left (a new reservation on it is refused)."""
    return flight.departure <= (now or datetime.now(UTC))


def find(flight_id: str) -> Flight | None:
    """The flight with this id, or None if it is not on the schedule (an unknown number, a bad
    date, or beyond the last day; a departed flight, however old, is found)."""
    match = _FLIGHT_ID.match(flight_id.strip().upper())
    if match is None or match.group(1) not in _BY_NUMBER:
        return None
    try:
        day = datetime.strptime(match.group(2), "%Y%m%d").date()
    except ValueError:
        return None
    return _flight(match.group(1), day) if day <= last_day() else None


def flights_between(origin: str, destination: str, day: date) -> list[Flight]:
    """Flights departing `origin` on local date `day` for `destination`, by departure time."""
    if not in_season(day):
        return []
    flights = [
        _flight(number, day)
        for route in ROUTES
        if route.origin == origin and route.destination == destination
        for number, _ in route.departures
    ]
    return sorted(flights, key=lambda f: f.departure)


def all_flights(first: date | None = None, last: date | None = None) -> list[Flight]:
    """Every flight from `first` to `last` (default: the whole window, about 17,000): for
    audits and tests, not hot paths."""
    out: list[Flight] = []
    day = first or first_day()
    last = last or last_day()
    while day <= last:
        out.extend(_flight(number, day) for number in _BY_NUMBER)
        day += timedelta(days=1)
    return out
