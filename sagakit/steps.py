"""Moved to sagas.booking (the booking saga's declaration); kept for orchestrator/demo.py until
the CLI's move to cli/."""

from sagas.booking.declaration import (
    ALIASES,
    CONFIRM_BOOKING,
    DEDUCT_LOYALTY_POINTS,
    PROCESS_PAYMENT,
    RESERVE_SEAT,
    STEP_ORDER,
    canonical_step,
)

__all__ = [
    "ALIASES",
    "CONFIRM_BOOKING",
    "DEDUCT_LOYALTY_POINTS",
    "PROCESS_PAYMENT",
    "RESERVE_SEAT",
    "STEP_ORDER",
    "canonical_step",
]
