"""The saga's wire step names, their aliases and the service that owns each."""

from __future__ import annotations

from sagakit.errors import InvalidArgument

RESERVE_SEAT = "reserve_seat"
DEDUCT_LOYALTY_POINTS = "deduct_loyalty_points"
PROCESS_PAYMENT = "process_payment"
CONFIRM_BOOKING = "confirm_booking"

# Saga order.
STEP_ORDER = (RESERVE_SEAT, DEDUCT_LOYALTY_POINTS, PROCESS_PAYMENT, CONFIRM_BOOKING)

ALIASES = {
    "seat": RESERVE_SEAT,
    "loyalty": DEDUCT_LOYALTY_POINTS,
    "points": DEDUCT_LOYALTY_POINTS,
    "payment": PROCESS_PAYMENT,
    "booking": CONFIRM_BOOKING,
}


def canonical_step(name: str, field: str) -> str:
    """A wire step name or alias (any case) -> the wire name; unknown names are INVALID_ARGUMENT."""
    key = name.strip().lower().replace("-", "_")
    if key in STEP_ORDER:
        return key
    if key in ALIASES:
        return ALIASES[key]
    known = ", ".join(STEP_ORDER + tuple(ALIASES))
    raise InvalidArgument(field, f"unknown step {name.strip()!r} (known: {known})")
