"""Rental cars per city and class, and the rentals of each saga (US cents). Seeded (migrations):
LIS, PAR, NYC and SLD with economy, compact and suv cars, except PAR's suvs, all out (a trip
to PAR with an suv fails at rent_car, after its room was booked). A rental takes one car and
its return gives it back; a CHECK keeps cars_left >= 0 and a rental applies `WHERE cars_left > 0`.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sagakit import validate
from sagakit.barrier import now_iso
from sagakit.db import Conn
from sagakit.errors import InvalidArgument, NotFound, Reason, Rejected

CLASSES = ("economy", "compact", "suv")  # "" is economy
Row = dict[str, Any]  # a rental: its columns (rentals) by name, and its rental_id, currency


def request(driver: str, city: str, pick_up: str, days: int, car_class: str) -> Row:
    if not 1 <= days <= 30:
        raise InvalidArgument("days", f"must be 1..30 (got {days})")
    if (car_class := car_class.strip().lower() or "economy") not in CLASSES:
        raise InvalidArgument("car_class", f"must be one of {', '.join(CLASSES)}")
    return {
        "driver": validate.text("driver", driver, 100),
        "city": validate.text("city", city, 8).upper(),
        "pick_up": validate.iso_date("pick_up", pick_up),
        "days": days,
        "car_class": car_class,
    }


def rent(conn: Conn, saga_id: str, r: Row) -> Row:
    key = (r["city"], r["car_class"])
    rate = conn.execute("SELECT daily_cents FROM fleet WHERE city=? AND car_class=?", key)
    if (daily := rate.fetchone()) is None:
        raise NotFound(f"city: no car rental in {r['city']}", field="city")
    take = "UPDATE fleet SET cars_left = cars_left - 1 WHERE city=? AND car_class=?"
    if conn.execute(take + " AND cars_left > 0", key).rowcount != 1:
        raise Rejected(f"no {key[1]} cars left in {key[0]}", Reason.SOLD_OUT, city=key[0])
    conn.execute(
        "INSERT INTO rentals VALUES (?, ?, ?, ?, ?, ?, ?, 'booked', ?)",
        (saga_id, *(r[k] for k in ("driver", "city", "pick_up", "days", "car_class")),
         r["days"] * daily[0], now_iso()),
    )  # fmt: skip
    return rental(conn, saga_id)


def give_back(conn: Conn, saga_id: str) -> Row:
    r = rental(conn, saga_id)  # the barrier calls it after a Do only
    back = "UPDATE fleet SET cars_left = cars_left + 1 WHERE city=? AND car_class=?"
    conn.execute(back, (r["city"], r["car_class"]))
    conn.execute("UPDATE rentals SET state='cancelled' WHERE saga_id=?", (saga_id,))
    return rental(conn, saga_id)


def rental(conn: Conn, saga_id: str) -> Row:
    """The saga's rental; only its saga_id when it has none."""
    row = conn.execute("SELECT * FROM rentals WHERE saga_id=?", (saga_id,)).fetchone()
    if row is None:
        return {"saga_id": saga_id}
    ref = "CAR-" + hashlib.sha256(saga_id.encode()).hexdigest()[:10].upper()
    return dict(row) | {"rental_id": ref, "currency": "USD"}
