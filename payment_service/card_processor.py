"""Card checks of the simulated processor: format, Luhn, expiry, brand, test-card outcomes.

Test cards (any future expiry, any 3-digit CVC):
    4242 4242 4242 4242   approved
    4000 0000 0000 0002   declined: card_declined
    4000 0000 0000 9995   declined: insufficient_funds
Any other Luhn-valid number is approved.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sagakit import card_fields
from sagakit.card_fields import luhn_ok

DECLINES = {
    "4000000000000002": "card_declined",
    "4000000000009995": "insufficient_funds",
}


__all__ = ["CardInfo", "brand", "check", "luhn_ok"]


@dataclass(frozen=True)
class CardInfo:
    """What the processor keeps of a card: never the full number or the CVC."""

    last4: str
    brand: str
    decline_reason: str | None  # set for the test cards that always decline


def brand(digits: str) -> str:
    if digits.startswith("4"):
        return "visa"
    if digits[:2] in {"34", "37"}:
        return "amex"
    if 51 <= int(digits[:2]) <= 55 or 2221 <= int(digits[:4]) <= 2720:
        return "mastercard"
    if digits.startswith(("6011", "65")):
        return "discover"
    return "unknown"


def check(
    number: str, exp_month: int, exp_year: int, cvc: str, holder_name: str, today: date
) -> CardInfo:
    """Validate every field (sagakit.card_fields: the error names it); return the storable facts."""
    digits = card_fields.check(number, exp_month, exp_year, cvc, holder_name, today)
    return CardInfo(last4=digits[-4:], brand=brand(digits), decline_reason=DECLINES.get(digits))
