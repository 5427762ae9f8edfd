"""The flight-booking saga (declaration), its input rules (rules) and airports (airports)."""

from sagas.booking.declaration import (
    ALIASES,
    BOOK_FLIGHT,
    BOOKING,
    CONFIRM_BOOKING,
    DEDUCT_LOYALTY_POINTS,
    LOYALTY,
    NAME,
    PARTICIPANTS,
    PAYMENT,
    PROCESS_PAYMENT,
    RESERVE_SEAT,
    SEAT,
    STEP_ORDER,
    Facts,
    canonical_step,
    facts,
    summarize,
)

# What SAGAS= registers (sagas.registry): this module's saga, every version still served.
SAGA = BOOK_FLIGHT
# The version new bookings start under (the last of SAGA when it lists several): what the
# dashboard's booking pages show and let a user fail.
LATEST = SAGA[-1] if isinstance(SAGA, tuple) else SAGA

__all__ = [
    "ALIASES",
    "BOOKING",
    "BOOK_FLIGHT",
    "CONFIRM_BOOKING",
    "DEDUCT_LOYALTY_POINTS",
    "LATEST",
    "LOYALTY",
    "NAME",
    "PARTICIPANTS",
    "PAYMENT",
    "PROCESS_PAYMENT",
    "RESERVE_SEAT",
    "SAGA",
    "SEAT",
    "STEP_ORDER",
    "Facts",
    "canonical_step",
    "facts",
    "summarize",
]
