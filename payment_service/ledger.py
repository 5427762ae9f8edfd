"""The processor's ledger: one charge per saga, at most one refund of it (UNIQUE saga, kind)."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from payment_service import card_processor, vault
from sagakit import validate
from sagakit.barrier import now_iso
from sagakit.db import Conn
from sagakit.errors import InvalidArgument, Reason, Rejected

log = logging.getLogger("payment_service.ledger")

CURRENCY = "USD"
MAX_AMOUNT_CENTS = 10**9  # 10 million dollars: beyond any fare
MAX_DESCRIPTION = 200


@dataclass(frozen=True)
class Charge:
    amount_cents: int
    currency: str
    card: card_processor.CardInfo | None  # None: `token` names a card in the vault
    description: str
    token: str = ""


@dataclass(frozen=True)
class Entry:
    entry_id: str
    kind: str
    amount_cents: int
    currency: str
    card_last4: str
    card_brand: str
    at: str


def charge_request(
    amount_cents: int,
    currency: str,
    card: tuple[str, int, int, str, str] | None,
    description: str,
    today: datetime | None = None,
    token: str = "",
) -> Charge:
    """Validate a charge completely before anything is written (a token is looked up in the
    vault inside the charge's transaction)."""
    amount = validate.non_negative("amount_cents", amount_cents, MAX_AMOUNT_CENTS)
    cur = validate.text("currency", currency, 8, required=False).upper() or CURRENCY
    if cur != CURRENCY:
        raise InvalidArgument("currency", f"only {CURRENCY} is accepted (got {cur!r})")
    text = validate.text("description", description, MAX_DESCRIPTION, required=False)
    if token.strip():
        return Charge(amount, cur, None, text, token.strip())
    if card is None:
        raise InvalidArgument("card", "is required")
    info = card_processor.check(*card, today=(today or datetime.now(UTC)).date())
    return Charge(amount, cur, info, text)


def charge(conn: Conn, saga_id: str, c: Charge) -> Entry:
    card = c.card or vault.resolve(conn, c.token, datetime.now(UTC).date())
    if card.decline_reason is not None:
        log.info("[SAGA STEP] card ending %s declined: %s", card.last4, card.decline_reason)
        reason = (
            Reason.INSUFFICIENT_FUNDS
            if card.decline_reason == "insufficient_funds"
            else Reason.CARD_DECLINED
        )
        raise Rejected(
            f"card declined: {card.decline_reason}", reason, decline_reason=card.decline_reason
        )
    entry = Entry(
        f"txn_{secrets.token_hex(12)}",
        "charge",
        c.amount_cents,
        c.currency,
        card.last4,
        card.brand,
        now_iso(),
    )
    _insert(conn, saga_id, entry, c.description)
    log.info("[SAGA STEP] charged %d %s to card ending %s", c.amount_cents, c.currency, card.last4)
    return entry


def refund(conn: Conn, saga_id: str) -> Entry:
    """Refund the saga's charge in full (the barrier makes this happen once)."""
    (original,) = [e for e in entries(conn, saga_id) if e.kind == "charge"]
    entry = Entry(
        f"re_{secrets.token_hex(12)}",
        "refund",
        original.amount_cents,
        original.currency,
        original.card_last4,
        original.card_brand,
        now_iso(),
    )
    _insert(conn, saga_id, entry, f"refund of {original.entry_id}")
    log.info(
        "[COMPENSATION] refunded %d %s (%s)", entry.amount_cents, entry.currency, original.entry_id
    )
    return entry


def entries(conn: Conn, saga_id: str) -> list[Entry]:
    rows = conn.execute(
        "SELECT entry_id, kind, amount_cents, currency, card_last4, card_brand, at FROM ledger"
        " WHERE saga_id=? ORDER BY at",
        (saga_id,),
    ).fetchall()
    return [Entry(**dict(r)) for r in rows]


def _insert(conn: Conn, saga_id: str, e: Entry, description: str) -> None:
    conn.execute(
        "INSERT INTO ledger (entry_id, saga_id, kind, amount_cents, currency, card_last4,"
        " card_brand, description, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            e.entry_id,
            saga_id,
            e.kind,
            e.amount_cents,
            e.currency,
            e.card_last4,
            e.card_brand,
            description,
            e.at,
        ),
    )
