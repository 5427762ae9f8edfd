"""Hotel rooms per city and the stays booked in them (US cents). Seeded (migrations): LIS 120
rooms at 95.00 a night, PAR 80 at 180.00, NYC 50 at 240.00, and SLD, sold out (a trip there
fails at book_room without fault injection). A stay takes one room and its cancellation gives
it back; a CHECK keeps rooms_left >= 0 and a booking applies only `WHERE rooms_left > 0`."""

from __future__ import annotations

import hashlib
from typing import Any

from sagakit import validate
from sagakit.barrier import now_iso
from sagakit.db import Conn
from sagakit.errors import InvalidArgument, NotFound, Reason, Rejected

Row = dict[str, Any]  # a stay: its columns (stays) by name, and its reservation_id, currency


def request(guest: str, city: str, check_in: str, nights: int) -> Row:
    if not 1 <= nights <= 30:
        raise InvalidArgument("nights", f"must be 1..30 (got {nights})")
    return {
        "guest": validate.text("guest", guest, 100),
        "city": validate.text("city", city, 8).upper(),
        "check_in": validate.iso_date("check_in", check_in),
        "nights": nights,
    }


def book(conn: Conn, saga_id: str, s: Row) -> Row:
    rate = conn.execute("SELECT nightly_cents FROM cities WHERE city=?", (s["city"],)).fetchone()
    if rate is None:
        raise NotFound(f"city: no hotel in {s['city']}", field="city")
    take = "UPDATE cities SET rooms_left = rooms_left - 1 WHERE city=? AND rooms_left > 0"
    if conn.execute(take, (s["city"],)).rowcount != 1:
        raise Rejected(f"no rooms left in {s['city']}", Reason.SOLD_OUT, city=s["city"])
    conn.execute(
        "INSERT INTO stays VALUES (?, ?, ?, ?, ?, ?, 'booked', ?)",
        (saga_id, *(s[k] for k in ("guest", "city", "check_in", "nights")),
         s["nights"] * rate[0], now_iso()),
    )  # fmt: skip
    return stay(conn, saga_id)


def cancel(conn: Conn, saga_id: str) -> Row:
    back = "UPDATE cities SET rooms_left = rooms_left + 1 WHERE city=?"
    conn.execute(back, (stay(conn, saga_id)["city"],))  # the barrier calls it after a Do only
    conn.execute("UPDATE stays SET state='cancelled' WHERE saga_id=?", (saga_id,))
    return stay(conn, saga_id)


def stay(conn: Conn, saga_id: str) -> Row:
    """The saga's stay; only its saga_id when it has none."""
    row = conn.execute("SELECT * FROM stays WHERE saga_id=?", (saga_id,)).fetchone()
    if row is None:
        return {"saga_id": saga_id}
    ref = "HTL-" + hashlib.sha256(saga_id.encode()).hexdigest()[:10].upper()
    return dict(row) | {"reservation_id": ref, "currency": "USD"}
