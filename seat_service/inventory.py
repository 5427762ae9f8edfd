"""Seat holds: the only thing seat_service stores. Seat maps are the layout minus active holds.

A partial UNIQUE index on (flight_id, seat) over active holds makes a double hold impossible,
even if two transactions ever raced past the free-seat check.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass

from flightsaga.v1.common_pb2 import CabinClass
from sagakit import validate
from sagakit.barrier import now_iso
from sagakit.db import Conn, IntegrityError
from sagakit.errors import InvalidArgument, NotFound, Reason, Rejected
from sagas.booking import rules
from seat_service import schedule
from seat_service.schedule import CABINS, Cabin, Flight

log = logging.getLogger("seat_service.inventory")


@dataclass(frozen=True)
class Assignment:
    flight_id: str
    passenger_index: int
    seat: str


@dataclass(frozen=True)
class Reservation:
    """What a Do holds: validated before the transaction starts."""

    flights: tuple[Flight, ...]
    cabin: Cabin
    passengers: int
    # (flight_id, passenger_index) -> seat
    selections: dict[tuple[str, int], str]


@dataclass(frozen=True)
class Held:
    seats: tuple[Assignment, ...]
    fare_cents: int


@dataclass(frozen=True)
class Hold:
    flight_id: str
    seat: str
    passenger_index: int
    cabin: Cabin
    held_at: str
    released_at: str | None


MAX_LEGS = validate.MAX_LEGS
MAX_PASSENGERS = validate.MAX_PASSENGERS
_SEAT = re.compile(r"^\d{1,2}[A-K]$")


def cabin(field: str, value: int, default: Cabin | None = None) -> Cabin:
    if value == CabinClass.CABIN_CLASS_UNSPECIFIED and default is not None:
        return default
    for known in CABINS:
        if value == known:
            return known
    raise InvalidArgument(field, f"must be one of {', '.join(map(_cabin_name, CABINS))}")


def reservation(
    flight_ids: list[str],
    cabin_class: int,
    passengers: int,
    selections: list[tuple[str, int, str]],
) -> Reservation:
    """Check a Do request against the schedule; no database needed, so nothing is written."""
    validate.count("flight_ids", flight_ids, 1, MAX_LEGS)
    flights: list[Flight] = []
    for i, raw in enumerate(flight_ids):
        fid = validate.text(f"flight_ids[{i}]", raw).upper()
        flight = schedule.find(fid)
        if flight is None:
            raise NotFound(f"flight_ids[{i}]: no flight {fid!r} on the schedule")
        if flight in flights:
            raise InvalidArgument(f"flight_ids[{i}]", f"{fid} is listed twice")
        flights.append(flight)
    chosen = cabin("cabin_class", cabin_class)
    if not 1 <= passengers <= MAX_PASSENGERS:
        raise InvalidArgument(
            "passengers", f"needs 1..{MAX_PASSENGERS} passengers (got {passengers})"
        )
    by_id = {f.flight_id: f for f in flights}
    picked: dict[tuple[str, int], str] = {}
    for i, (raw_fid, index, raw_seat) in enumerate(selections):
        field = f"seat_selections[{i}]"
        fid = validate.text(f"{field}.flight_id", raw_fid).upper()
        if fid not in by_id:
            raise InvalidArgument(f"{field}.flight_id", f"{fid} is not one of flight_ids")
        if index >= passengers:
            raise InvalidArgument(
                f"{field}.passenger_index", f"{index} is out of range (passengers: {passengers})"
            )
        seat = validate.text(f"{field}.seat", raw_seat, max_len=4).upper()
        if not _SEAT.match(seat):
            raise InvalidArgument(f"{field}.seat", f"{seat!r} is not a seat like 12C")
        if by_id[fid].aircraft.cabin_of(seat) != chosen:
            raise InvalidArgument(
                f"{field}.seat", f"{seat} is not a {_cabin_name(chosen)} seat on {fid}"
            )
        if (fid, index) in picked:
            raise InvalidArgument(field, f"passenger {index} already has a seat on {fid}")
        if seat in {s for (f, _), s in picked.items() if f == fid}:
            raise InvalidArgument(f"{field}.seat", f"{seat} on {fid} is selected twice")
        picked[(fid, index)] = seat
    return Reservation(tuple(flights), chosen, passengers, picked)


def active_holders(conn: Conn, flight_id: str) -> dict[str, str]:
    """seat -> saga_id for every active hold on the flight."""
    rows = conn.execute(
        "SELECT seat, saga_id FROM seat_holds WHERE flight_id=? AND released_at IS NULL",
        (flight_id,),
    ).fetchall()
    return {row["seat"]: row["saga_id"] for row in rows}


def free_counts(conn: Conn, flights: list[Flight]) -> dict[tuple[str, Cabin], int]:
    """(flight_id, cabin) -> free seats, for every cabin of the given flights."""
    ids = [f.flight_id for f in flights]
    held: Counter[tuple[str, Cabin]] = Counter()
    if ids:
        marks = ",".join("?" * len(ids))
        for row in conn.execute(
            f"SELECT flight_id, cabin, COUNT(*) AS n FROM seat_holds"
            f" WHERE released_at IS NULL AND flight_id IN ({marks}) GROUP BY flight_id, cabin",
            ids,
        ):
            held[(row["flight_id"], row["cabin"])] = row["n"]
    return {
        (f.flight_id, cabin): len(f.aircraft.seats(cabin)) - held[(f.flight_id, cabin)]
        for f in flights
        for cabin in CABINS
    }


def hold(conn: Conn, saga_id: str, req: Reservation) -> Held:
    """Hold a seat for every passenger on every leg, all or nothing (the caller's transaction)."""
    now = now_iso()
    for i, flight in enumerate(req.flights):
        refuse_departed(i, flight)
    assigned: list[Assignment] = []
    fare = 0
    for flight in req.flights:
        taken = set(active_holders(conn, flight.flight_id))
        cabin_seats = flight.aircraft.seats(req.cabin)
        wanted = {p: seat for (fid, p), seat in req.selections.items() if fid == flight.flight_id}
        for seat in wanted.values():
            if seat in taken:
                raise Rejected(
                    f"seat {seat} on {flight.flight_id} is already taken",
                    Reason.SEAT_TAKEN,
                    flight_id=flight.flight_id,
                    seat=seat,
                )
        free = [s for s in cabin_seats if s not in taken and s not in wanted.values()]
        needed = req.passengers - len(wanted)
        if needed > len(free):
            left = len(cabin_seats) - len(taken & set(cabin_seats))
            raise Rejected(
                f"sold out: {flight.flight_id} has {left} free seat(s) in "
                f"{_cabin_name(req.cabin)}, {req.passengers} requested",
                Reason.SOLD_OUT,
                flight_id=flight.flight_id,
            )
        auto = iter(free)
        for p in range(req.passengers):
            seat = wanted.get(p) or next(auto)
            assigned.append(Assignment(flight.flight_id, p, seat))
        fare += flight.route.fare_cents(req.cabin) * req.passengers
    try:
        conn.executemany(
            "INSERT INTO seat_holds (saga_id, flight_id, seat, passenger_index, cabin, held_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [(saga_id, a.flight_id, a.seat, a.passenger_index, req.cabin, now) for a in assigned],
        )
    except IntegrityError:
        # The partial unique index caught a double hold the checks above did not see.
        raise Rejected(
            "a requested seat was taken meanwhile; try again", Reason.SEAT_TAKEN
        ) from None
    log.info("[SAGA STEP] held %d seat(s): %s", len(assigned), _describe(assigned))
    return Held(tuple(assigned), fare)


def refuse_departed(index: int, flight: Flight) -> None:
    """A new hold on a flight that has left is refused. Checked in the Do's transaction, after
    the barrier: a replayed Do (the hold was taken before departure) still answers its first
    result, and releasing a departed flight's holds is always allowed."""
    if schedule.departed(flight):
        raise rules.departed(f"flight_ids[{index}]", flight.flight_id, flight.departure)


def release(conn: Conn, saga_id: str) -> int:
    """Release the saga's active holds; the rows stay as history. Returns how many."""
    cur = conn.execute(
        "UPDATE seat_holds SET released_at=? WHERE saga_id=? AND released_at IS NULL",
        (now_iso(), saga_id),
    )
    log.info("[COMPENSATION] released %d seat(s)", cur.rowcount)
    return cur.rowcount


def holds_of(conn: Conn, saga_id: str) -> list[Hold]:
    rows = conn.execute(
        "SELECT flight_id, seat, passenger_index, cabin, held_at, released_at FROM seat_holds"
        " WHERE saga_id=? ORDER BY id",
        (saga_id,),
    ).fetchall()
    return [Hold(**dict(row)) for row in rows]


def _cabin_name(cabin: Cabin) -> str:
    return CabinClass.Name(cabin)


def _describe(assigned: list[Assignment]) -> str:
    return ", ".join(f"{a.flight_id}/{a.seat}" for a in assigned)
