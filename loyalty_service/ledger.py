"""Loyalty accounts and their points ledger. 1 point = 1 US cent.

The accounts are seeded by the first migration (LOY-1001 to LOY-1006, created on first start,
never overwritten).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sagakit import validate
from sagakit.barrier import now_iso
from sagakit.db import Conn
from sagakit.errors import NotFound, Reason, Rejected

log = logging.getLogger("loyalty_service.ledger")

MAX_POINTS = 10**9


@dataclass(frozen=True)
class Deduction:
    account_id: str
    points: int
    max_value_cents: int


@dataclass(frozen=True)
class Account:
    account_id: str
    holder_name: str
    tier: str
    balance: int


@dataclass(frozen=True)
class Movement:
    account_id: str
    delta: int
    kind: str
    balance_after: int
    at: str


def points_value_cents(points: int) -> int:
    return points  # 1 point = 1 cent


def deduction(account_id: str, points: int, max_value_cents: int) -> Deduction:
    return Deduction(
        account_id=validate.text("account_id", account_id).upper(),
        points=validate.non_negative("points", points, MAX_POINTS),
        max_value_cents=validate.non_negative("max_value_cents", max_value_cents),
    )


def account(conn: Conn, account_id: str) -> Account:
    row = conn.execute(
        "SELECT account_id, holder_name, tier, balance FROM accounts WHERE account_id=?",
        (account_id,),
    ).fetchone()
    if row is None:
        raise NotFound(f"account_id: no loyalty account {account_id!r}")
    return Account(**dict(row))


def deduct(conn: Conn, saga_id: str, d: Deduction) -> Movement:
    """A CHECK constraint keeps every balance >= 0, and a deduction only applies `WHERE balance >=
    points`, so no interleaving of sagas can overdraw an account."""
    acct = account(conn, d.account_id)
    value = points_value_cents(d.points)
    if d.max_value_cents and value > d.max_value_cents:
        raise Rejected(
            f"{d.points} points are worth {value} cents, more than the fare "
            f"({d.max_value_cents} cents)",
            Reason.POINTS_EXCEED_FARE,
        )
    cur = conn.execute(
        "UPDATE accounts SET balance = balance - ? WHERE account_id=? AND balance >= ?",
        (d.points, d.account_id, d.points),
    )
    if cur.rowcount != 1:
        raise Rejected(
            f"insufficient points: {d.account_id} has {acct.balance}, {d.points} requested",
            Reason.INSUFFICIENT_POINTS,
            account_id=d.account_id,
        )
    after = acct.balance - d.points
    log.info("[SAGA STEP] deducted %d points from %s (balance %d)", d.points, d.account_id, after)
    return _record(conn, saga_id, d.account_id, -d.points, "deduction", after)


def refund(conn: Conn, saga_id: str) -> Movement:
    """Give back exactly what this saga's deduction took."""
    row = conn.execute(
        "SELECT account_id, delta FROM movements WHERE saga_id=? AND kind='deduction'", (saga_id,)
    ).fetchone()
    if row is None:
        # The barrier only calls this after a committed Do, which always records a deduction.
        raise RuntimeError(f"no deduction recorded for saga {saga_id}")
    points = -int(row["delta"])
    conn.execute(
        "UPDATE accounts SET balance = balance + ? WHERE account_id=?", (points, row["account_id"])
    )
    after = account(conn, row["account_id"]).balance
    log.info(
        "[COMPENSATION] refunded %d points to %s (balance %d)", points, row["account_id"], after
    )
    return _record(conn, saga_id, row["account_id"], points, "refund", after)


def movements(conn: Conn, saga_id: str) -> list[Movement]:
    rows = conn.execute(
        "SELECT account_id, delta, kind, balance_after, at FROM movements WHERE saga_id=?"
        " ORDER BY id",
        (saga_id,),
    ).fetchall()
    return [Movement(**dict(r)) for r in rows]


def _record(
    conn: Conn, saga_id: str, account_id: str, delta: int, kind: str, after: int
) -> Movement:
    m = Movement(account_id, delta, kind, after, now_iso())
    conn.execute(
        "INSERT INTO movements (saga_id, account_id, delta, kind, balance_after, at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (saga_id, m.account_id, m.delta, m.kind, m.balance_after, m.at),
    )
    return m
