"""PNR-style booking references: 6 characters from an alphabet without look-alikes.

0/O and 1/I are left out so a reference read over the phone or from a screen is unambiguous.
24 letters + 8 digits = 32 symbols: 32**6, about a billion references.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
LENGTH = 6


def new_reference(choice: Callable[[str], str] = secrets.choice) -> str:
    return "".join(choice(ALPHABET) for _ in range(LENGTH))


def is_reference(value: str) -> bool:
    return len(value) == LENGTH and all(c in ALPHABET for c in value)
