"""The simulated processor's card checks (pure functions, fixed 'today')."""

from __future__ import annotations

from datetime import date

import pytest

from payment_service import card_processor
from sagakit.errors import InvalidArgument

TODAY = date(2026, 6, 15)


@pytest.mark.parametrize(
    ("number", "ok"),
    [
        ("4242424242424242", True),
        ("4000000000000002", True),
        ("4000000000009995", True),
        ("378282246310005", True),  # amex test number
        ("5555555555554444", True),
        ("4242424242424241", False),
        ("1234567812345678", False),
        ("79927398713", True),  # the classic worked example
        ("79927398710", False),
        ("", False),
        ("42a2", False),
    ],
)
def test_luhn(number: str, ok: bool) -> None:
    assert card_processor.luhn_ok(number) is ok


@pytest.mark.parametrize(
    ("number", "brand"),
    [
        ("4242424242424242", "visa"),
        ("5555555555554444", "mastercard"),
        ("2223003122003222", "mastercard"),
        ("378282246310005", "amex"),
        ("6011111111111117", "discover"),
        ("3056930009020004", "unknown"),
    ],
)
def test_brand(number: str, brand: str) -> None:
    assert card_processor.brand(number) == brand


def check(**changes: object) -> card_processor.CardInfo:
    args: dict[str, object] = {
        "number": "4242 4242 4242 4242",
        "exp_month": 6,
        "exp_year": 2026,
        "cvc": "123",
        "holder_name": "Ann Lee",
    }
    args.update(changes)
    return card_processor.check(today=TODAY, **args)  # type: ignore[arg-type]


def test_a_card_expiring_this_month_is_accepted_and_only_last4_is_kept() -> None:
    info = check()
    assert info == card_processor.CardInfo(last4="4242", brand="visa", decline_reason=None)


@pytest.mark.parametrize(
    ("number", "reason"),
    [("4000000000000002", "card_declined"), ("4000-0000-0000-9995", "insufficient_funds")],
)
def test_test_cards_carry_their_decline(number: str, reason: str) -> None:
    assert check(number=number).decline_reason == reason


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"number": ""}, "card.number"),
        ({"number": "42424242424"}, "card.number"),  # 11 digits
        ({"number": "4" * 20}, "card.number"),
        ({"number": "4242424242424241"}, "card.number"),
        ({"exp_month": 0}, "card.exp_month"),
        ({"exp_month": 13}, "card.exp_month"),
        ({"exp_month": 5}, "card.exp_month"),  # May 2026 is past
        ({"exp_year": 2025, "exp_month": 12}, "card.exp_year"),
        ({"exp_year": 26}, "card.exp_year"),
        ({"exp_year": 2099}, "card.exp_year"),
        ({"cvc": "12"}, "card.cvc"),
        ({"cvc": "12345"}, "card.cvc"),
        ({"cvc": "abc"}, "card.cvc"),
        ({"holder_name": " "}, "card.holder_name"),
        ({"holder_name": "x" * 65}, "card.holder_name"),
    ],
)
def test_bad_cards_name_the_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        check(**changes)
    assert info.value.field == field
