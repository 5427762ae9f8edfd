"""The generated flight schedule and aircraft layouts."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from flightsaga.v1.common_pb2 import CabinClass
from seat_service import schedule
from tests.support.dates import flight_day, flight_id


def test_every_route_flies_every_day_of_the_window() -> None:
    flights = schedule.all_flights()
    days = (schedule.last_day() - schedule.first_day()).days + 1
    assert days == schedule.HISTORY_DAYS + 1 + schedule.AHEAD_DAYS
    per_route = Counter((f.route.origin, f.route.destination) for f in flights)
    for route in schedule.ROUTES:
        assert per_route[(route.origin, route.destination)] == days * len(route.departures)
        assert 2 <= len(route.departures) <= 3
    assert len({f.flight_id for f in flights}) == len(flights)


def test_routes_come_in_both_directions() -> None:
    pairs = {(r.origin, r.destination) for r in schedule.ROUTES}
    assert {("JFK", "LAX"), ("LAX", "JFK"), ("JFK", "LHR"), ("LHR", "JFK")} <= pairs
    assert all((d, o) in pairs for o, d in pairs)


def test_the_schedule_is_deterministic() -> None:
    a = [(f.flight_id, f.departure) for f in schedule.all_flights()]
    b = [(f.flight_id, f.departure) for f in schedule.all_flights()]
    assert a == b


def test_find_round_trips_and_rejects_unknown_ids() -> None:
    fid = flight_id("FS101", days=3)
    flight = schedule.find(fid.lower())
    assert flight is not None and flight.flight_id == fid
    assert flight.departure.date() == flight_day(3)
    assert flight.departure.astimezone(ZoneInfo("America/New_York")).time() == time(8)
    beyond = schedule.AHEAD_DAYS + 1
    for bad in (
        "FS101-20261131",
        flight_id("FS101", beyond),
        flight_id("FS999", 3),
        "FS101",
        "",
        "FS101-2026",
    ):
        assert schedule.find(bad) is None


def test_the_window_rolls_with_the_clock_and_departed_flights_stay_known() -> None:
    assert schedule.first_day() == flight_day(-schedule.HISTORY_DAYS)
    assert schedule.last_day() == flight_day(schedule.AHEAD_DAYS)
    yesterday = schedule.find(flight_id("FS101", -1))
    tomorrow = schedule.find(flight_id("FS101", 1))
    assert yesterday is not None and tomorrow is not None
    assert schedule.departed(yesterday) and not schedule.departed(tomorrow)
    # However old, a departed flight is found (its holds replay and release), not searched.
    ancient = schedule.find(flight_id("FS101", -schedule.HISTORY_DAYS - 400))
    assert ancient is not None and schedule.departed(ancient)
    assert schedule.flights_between("JFK", "LAX", flight_day(-schedule.HISTORY_DAYS - 1)) == []
    assert schedule.flights_between("JFK", "LAX", flight_day(-schedule.HISTORY_DAYS))
    at = tomorrow.departure
    assert schedule.departed(tomorrow, now=at)
    assert not schedule.departed(tomorrow, now=at - timedelta(seconds=1))


def test_local_departure_dates_and_dst() -> None:
    # The flights themselves are pure functions of the id: any date, in the window or not.
    winter = schedule._flight("FS301", date(2026, 12, 1))  # JFK 18:30 EST
    spring = schedule._flight("FS301", date(2027, 3, 20))  # JFK 18:30 EDT (US: 2027-03-14)
    assert winter.departure.astimezone(UTC).hour == 23
    assert spring.departure.astimezone(UTC).hour == 22
    # Overnight to London: arrives the next local day.
    assert winter.arrival.date() == date(2026, 12, 2)
    assert winter.arrival - winter.departure == timedelta(minutes=415)
    assert winter.departure.astimezone(UTC) == datetime(2026, 12, 1, 23, 30, tzinfo=UTC)


def test_flights_between_are_sorted_and_empty_outside_the_window() -> None:
    found = schedule.flights_between("LAX", "JFK", flight_day(40))
    assert [f.number for f in found] == ["FS102", "FS104", "FS106"]
    assert schedule.flights_between("LAX", "JFK", flight_day(schedule.AHEAD_DAYS + 1)) == []
    assert schedule.flights_between("LAX", "XXX", flight_day(40)) == []


@pytest.mark.parametrize("aircraft", [schedule.A321, schedule.B789, schedule.E175])
def test_cabins_are_disjoint_and_front_to_back(aircraft: schedule.Aircraft) -> None:
    seen: list[str] = []
    last_row = 0
    for cabin in schedule.CABINS:
        seats = aircraft.seats(cabin)
        assert seats, f"{aircraft.name} has no {CabinClass.Name(cabin)}"
        rows = [int(s[:-1]) for s in seats]
        assert min(rows) > last_row
        last_row = max(rows)
        seen.extend(seats)
        assert all(aircraft.cabin_of(s) == cabin for s in seats)
    assert len(seen) == len(set(seen))
    assert aircraft.cabin_of("99Z") is None


def test_a321_layout() -> None:
    sizes = {CabinClass.Name(c): len(schedule.A321.seats(c)) for c in schedule.CABINS}
    assert sizes == {"FIRST": 8, "BUSINESS": 16, "PREMIUM_ECONOMY": 24, "ECONOMY": 150}
    assert schedule.A321.seats(CabinClass.ECONOMY)[:3] == ("11A", "11B", "11C")


def test_fares_rise_with_the_cabin_in_whole_dollars() -> None:
    for route in schedule.ROUTES:
        fares = [route.fare_cents(c) for c in reversed(schedule.CABINS)]  # economy first
        assert fares == sorted(fares) and len(set(fares)) == 4
        assert all(f % 100 == 0 and f > 0 for f in fares)
