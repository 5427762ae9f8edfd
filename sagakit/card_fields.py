"""A payment card's fields, checked once for every service that takes one (the orchestrator
refuses a bad card before any saga exists; the payment service checks again at its door).

Card numbers are ASCII digits (spaces and dashes allowed as typed): "²" or fullwidth digits
pass str.isdigit() but are not card numbers.
"""

from __future__ import annotations

import re
from datetime import date

from sagakit import validate
from sagakit.errors import InvalidArgument

MAX_YEARS_AHEAD = 20
_CVC = re.compile(r"^[0-9]{3,4}$")
_DIGITS = re.compile(r"^[0-9]{12,19}$")


def luhn_ok(digits: str) -> bool:
    """The Luhn mod-10 check digit test (ISO/IEC 7812)."""
    if not digits.isascii() or not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def normalize_number(raw: str) -> str:
    """Digits only; spaces and dashes are how people type card numbers."""
    return re.sub(r"[ -]", "", raw)


def check(
    number: str, exp_month: int, exp_year: int, cvc: str, holder_name: str, today: date
) -> str:
    """Validate every field (the error names it); returns the card number's digits."""
    digits = normalize_number(validate.text("card.number", number, max_len=32))
    if not _DIGITS.match(digits):
        raise InvalidArgument("card.number", "must be 12 to 19 digits (0-9)")
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
    return digits
