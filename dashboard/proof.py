"""The proof panel: each participant's own records of a saga, summarised. No I/O here."""

from __future__ import annotations

from typing import Any

from google.protobuf.message import Message

from dashboard.jsonview import to_dict
from flightsaga.v1 import booking_pb2, loyalty_pb2, payment_pb2, seat_pb2


def _panel(records: Message, state: str, summaries: dict[str, str], **facts: Any) -> dict[str, Any]:
    """The records as JSON, with their `state`, its `summary` and the counts shown."""
    out = to_dict(records)
    out.update(state=state, **facts)
    out["summary"] = summaries[state]
    return out


def _undone(kinds: set[str], done_kind: str, done_state: str) -> str:
    """`refunded` once a refund is recorded, else `done_state` once `done_kind` is, else none."""
    return "refunded" if "refund" in kinds else done_state if done_kind in kinds else "none"


def seat_proof(holds: seat_pb2.SeatHolds) -> dict[str, Any]:
    active = [h for h in holds.holds if not h.HasField("released_at")]
    released = [h for h in holds.holds if h.HasField("released_at")]
    state = "held" if active else "released" if released else "none"
    summaries = {
        "held": f"{len(active)} seat(s) held",
        "released": f"{len(released)} seat(s) released",
        "none": "no seat held",
    }
    return _panel(holds, state, summaries, held=len(active), released=len(released))


def loyalty_proof(movements: loyalty_pb2.PointsMovements) -> dict[str, Any]:
    deducted = -sum(m.delta for m in movements.movements if m.kind == "deduction")
    refunded = sum(m.delta for m in movements.movements if m.kind == "refund")
    state = _undone({m.kind for m in movements.movements}, "deduction", "deducted")
    summaries = {
        "refunded": f"{deducted} points deducted, {refunded} points refunded",
        "deducted": f"{deducted} points deducted",
        "none": "no points movement",
    }
    return _panel(movements, state, summaries, deducted=deducted, refunded=refunded)


def payment_proof(payments: payment_pb2.Payments) -> dict[str, Any]:
    charged = sum(e.amount_cents for e in payments.entries if e.kind == "charge")
    refunded = sum(e.amount_cents for e in payments.entries if e.kind == "refund")
    state = _undone({e.kind for e in payments.entries}, "charge", "charged")
    summaries = {
        "refunded": f"charged {money(charged)}, refunded {money(refunded)}",
        "charged": f"charged {money(charged)}",
        "none": "no charge (nothing to refund)",
    }
    return _panel(payments, state, summaries, charged_cents=charged, refunded_cents=refunded)


def booking_proof(records: booking_pb2.BookingRecords) -> dict[str, Any]:
    last = records.bookings[-1] if records.bookings else None
    state = last.status.lower() if last is not None and last.status else "none"
    out = to_dict(records)
    out.update(state=state, booking_reference=last.booking_reference if last else "")
    out["summary"] = (
        f"booking {last.booking_reference} {last.status}" if last is not None else "no booking"
    )
    return out


def money(cents: int, currency: str = "USD") -> str:
    return f"{cents / 100:,.2f} {currency}"
