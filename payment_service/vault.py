"""The card vault: tokens for checked cards, so that nobody upstream keeps card data.

Tokenize checks a card as a charge would (number, Luhn, expiry, CVC format) and keeps under a
random token only what a later charge needs: the last four digits, the brand, the expiry, the
holder and, for the test cards, their outcome. The full number and the CVC are not stored
anywhere, so there is no key to keep or rotate: a token is a reference, not a ciphertext.
"""

from __future__ import annotations

import secrets
from datetime import date

from payment_service import card_processor
from sagakit.barrier import now_iso
from sagakit.db import Conn
from sagakit.errors import InvalidArgument

MAX_TOKEN = 64


def tokenize(
    conn: Conn, info: card_processor.CardInfo, exp_month: int, exp_year: int, holder_name: str
) -> str:
    token = f"tok_{secrets.token_hex(16)}"
    conn.execute(
        "INSERT INTO card_vault (token, last4, brand, decline_reason, exp_month, exp_year,"
        " holder_name, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            token,
            info.last4,
            info.brand,
            info.decline_reason,
            exp_month,
            exp_year,
            holder_name.strip(),
            now_iso(),
        ),
    )
    return token


def resolve(conn: Conn, token: str, today: date) -> card_processor.CardInfo:
    """The card a token stands for; INVALID_ARGUMENT naming card.token when it is unknown or
    the card has expired since."""
    token = token.strip()
    if len(token) > MAX_TOKEN or not token.startswith("tok_"):
        raise InvalidArgument("card.token", "is not a token from PaymentService.Tokenize")
    row = conn.execute(
        "SELECT last4, brand, decline_reason, exp_month, exp_year FROM card_vault WHERE token=?",
        (token,),
    ).fetchone()
    if row is None:
        raise InvalidArgument("card.token", "is not a token from PaymentService.Tokenize")
    if (row["exp_year"], row["exp_month"]) < (today.year, today.month):
        raise InvalidArgument("card.token", "the card has expired since it was tokenised")
    return card_processor.CardInfo(
        last4=str(row["last4"]), brand=str(row["brand"]), decline_reason=row["decline_reason"]
    )
