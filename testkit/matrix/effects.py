"""What a step left at its participant for one saga: none, effective, or undone.

The one place that knows how each participant's read RPC shows an effect (through
chaos.records); switch `read` to a uniform records service here and nothing else changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from enum import StrEnum

from chaos.records import ParticipantRecords, read_participants
from sagas.booking import CONFIRM_BOOKING, DEDUCT_LOYALTY_POINTS, PROCESS_PAYMENT, RESERVE_SEAT
from sagas.peers import Peers


class Effect(StrEnum):
    NONE = "none"  # the participant holds nothing for the saga: the step never took effect
    EFFECTIVE = "effective"  # the step's effect stands
    UNDONE = "undone"  # the effect was made, then reversed by the compensation


def _seat(r: ParticipantRecords) -> Effect:
    if not r.holds:
        return Effect.NONE
    return Effect.EFFECTIVE if any(h.active for h in r.holds) else Effect.UNDONE


def _loyalty(r: ParticipantRecords) -> Effect:
    if not r.movements:
        return Effect.NONE
    return Effect.EFFECTIVE if sum(m[2] for m in r.movements) else Effect.UNDONE


def _payment(r: ParticipantRecords) -> Effect:
    if not r.charges:
        return Effect.NONE
    charged = sum(cents for _, cents in r.charges)
    return Effect.EFFECTIVE if charged != sum(r.refunds) else Effect.UNDONE


def _booking(r: ParticipantRecords) -> Effect:
    if not r.bookings:
        return Effect.NONE
    live = any(b.status != "CANCELLED" for b in r.bookings)
    return Effect.EFFECTIVE if live else Effect.UNDONE


BY_STEP: dict[str, Callable[[ParticipantRecords], Effect]] = {
    RESERVE_SEAT: _seat,
    DEDUCT_LOYALTY_POINTS: _loyalty,
    PROCESS_PAYMENT: _payment,
    CONFIRM_BOOKING: _booking,
}


def classify(records: ParticipantRecords) -> dict[str, Effect]:
    """Each step's effect, by wire step name."""
    return {step: judge(records) for step, judge in BY_STEP.items()}


async def read(peers: Peers, saga_ids: Iterable[str]) -> dict[str, ParticipantRecords]:
    """Every participant's records of these sagas (read errors are kept in `read_error`)."""
    return await read_participants(peers, saga_ids, limit=8)
