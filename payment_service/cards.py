"""Card checks of the simulated processor: format, Luhn, expiry, brand, test-card outcomes.

Test cards (any future expiry, any 3-digit CVC):
    4242 4242 4242 4242   approved
    4000 0000 0000 0002   declined: card_declined
    4000 0000 0000 9995   declined: insufficient_funds
Any other Luhn-valid number is approved.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from sagakit import validate
from sagakit.errors import InvalidArgument

DECLINES = {
    "4000000000000002": "card_declined",
    "4000000000009995": "insufficient_funds",
}
MAX_YEARS_AHEAD = 20
_CVC = re.compile(r"^\d{3,4}$")


@dataclass(frozen=True)
class CardInfo:
    """What the processor keeps of a card: never the full number or the CVC."""

    last4: str
    brand: str
    decline_reason: str | None  # set for the test cards that always decline


def luhn_ok(digits: str) -> bool:
    """The Luhn mod-10 check digit test (ISO/IEC 7812)."""
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


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


def normalize_number(raw: str) -> str:
    """Digits only; spaces and dashes are how people type card numbers."""
    return re.sub(r"[ -]", "", raw)


def check(
    number: str, exp_month: int, exp_year: int, cvc: str, holder_name: str, today: date
) -> CardInfo:
    """Validate every field (the error names it) and return the storable facts."""
    digits = normalize_number(validate.text("card.number", number, max_len=32))
    if not digits.isdigit() or not 12 <= len(digits) <= 19:
        raise InvalidArgument("card.number", "must be 12 to 19 digits")
    if not luhn_ok(digits):
        raise InvalidArgument("card.number", "fails the Luhn check (mistyped?)")
    if not 1 <= exp_month <= 12:
        raise InvalidArgument("card.exp_month", f"must be 1..12 (got {exp_month})")
    if not today.year <= exp_year <= today.year + MAX_YEARS_AHEAD:
        problem = "the card has expired" if exp_year < today.year else "is not plausible"
        raise InvalidArgument("card.exp_year", f"{problem} (got {exp_year})")
    if (exp_year, exp_month) < (today.year, today.month):
        raise InvalidArgument("card.exp_month", f"the card expired in {exp_year}-{exp_month:02d}")
    if not _CVC.match(cvc.strip()):
        raise InvalidArgument("card.cvc", "must be 3 or 4 digits")
    validate.text("card.holder_name", holder_name, validate.MAX_NAME)
    return CardInfo(last4=digits[-4:], brand=brand(digits), decline_reason=DECLINES.get(digits))
