"""What the CLI prints: text views of sagas, events, flights and stats, and `--json`.

Flight times are shown in the local time of their airport, with its zone (`08:00 EST`), as
printed on a ticket; the flight id's date is that local date. Saga and event times are UTC.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from flightsaga.v1 import orchestrator_pb2 as pb
from flightsaga.v1 import seat_pb2
from sagakit.plainjson import plain
from sagas.booking import RESERVE_SEAT
from sagas.booking.airports import airport_time

STATE_MARK = {
    "SUCCEEDED": "ok",
    "STEP_FAILED": "FAILED",
    "UNKNOWN_OUTCOME": "UNKNOWN",
    "COMPENSATED_STEP": "compensated",
    "COMPENSATION_FAILED": "COMPENSATION FAILED",
    "SKIPPED": "skipped",
    "PENDING": "pending",
    "EXECUTING": "executing",
    "COMPENSATING_STEP": "compensating",
}


def as_json(message: Message) -> str:
    """--json: every number a number (sagakit.plainjson), like the bookings log."""
    return json.dumps(plain(message), indent=2)


def money(cents: int, currency: str = "USD") -> str:
    return f"{cents / 100:,.2f} {currency or 'USD'}"


def utc(ts: Timestamp) -> datetime:
    return ts.ToDatetime(tzinfo=UTC)


def route_text(origin: str, departure: datetime, destination: str, arrival: datetime) -> str:
    """`JFK 2026-12-01 08:00 EST -> LAX 11:25 PST` (the arrival's date only when it differs)."""
    dep = airport_time(departure, origin)
    same_day = airport_time(arrival, destination)[:10] == dep[:10]
    arr = airport_time(arrival, destination, with_date=not same_day)
    return f"{origin} {dep} -> {destination} {arr}"


def flight_text(leg: seat_pb2.Leg) -> str:
    """`FS101-20261201  JFK 2026-12-01 08:00 EST -> LAX 11:25 PST`."""
    return f"{leg.flight_id}  " + route_text(
        leg.origin, utc(leg.departure), leg.destination, utc(leg.arrival)
    )


def leg_text(leg: seat_pb2.Leg) -> str:
    """One line of `flightsaga flights`."""
    route = route_text(leg.origin, utc(leg.departure), leg.destination, utc(leg.arrival))
    return (
        f"  {leg.flight_id:<16} {route:<48} {money(leg.fare_cents):>12}  "
        f"{leg.seats_available} seats free"
    )


def _int(value: Any) -> int:
    """A count from a step result (Struct numbers arrive as float, some as strings)."""
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return -1


def _when(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)).astimezone(UTC)
    except ValueError:
        return None


def itinerary(saga: pb.Saga) -> list[str]:
    """The booked flights with their times and the seat of each passenger, one line per leg.

    From the seat service's reply to `reserve_seat`; without one, the requested flight ids.
    """
    result: Mapping[str, Any] = {}
    for st in saga.steps:
        if st.name == RESERVE_SEAT and st.HasField("result"):
            result = json_format.MessageToDict(st.result)
    names = [f"{p.first_name} {p.last_name}" for p in saga.request.passengers]
    seats: dict[str, list[str]] = {}
    for s in result.get("seats") or []:
        index = _int(s.get("passenger_index"))
        who = names[index] if 0 <= index < len(names) else f"passenger {index + 1}"
        seats.setdefault(str(s.get("flight_id", "")), []).append(f"{s.get('seat', '?')} {who}")
    lines = []
    legs = {str(leg.get("flight_id", "")): leg for leg in result.get("legs") or []}
    for flight_id in saga.request.flight_ids or list(legs):
        leg = legs.get(flight_id, {})
        dep, arr = _when(leg.get("departure")), _when(leg.get("arrival"))
        route = (
            route_text(str(leg.get("origin")), dep, str(leg.get("destination")), arr)
            if dep is not None and arr is not None
            else ""
        )
        taken = seats.get(flight_id)
        seat = ("seat " if len(taken) == 1 else "seats ") + ", ".join(taken) if taken else ""
        lines.append(f"  {flight_id:<16} {route}  {seat}".rstrip())
    return lines


def is_booking(saga: pb.Saga) -> bool:
    """A booking saga (an orchestrator from before StartSaga leaves `saga` empty)."""
    return saga.saga in ("", "book_flight")


def facts_text(saga: pb.Saga) -> str:
    """A saga's facts (its declaration's summary): `reservation_id=R-1 total_cents=41000`."""
    return " ".join(
        f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in saga.facts.items()
    )


def input_text(saga: pb.Saga) -> str:
    """A saga's input in one short line: its values, by field name (a Struct keeps no order)."""
    given = sorted(saga.input.items())
    values = (v for k, v in given if k != "owner" and v not in ("", 0))
    return " ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)


def saga_text(saga: pb.Saga, resumed: bool = False) -> str:
    """The saga as `book`, `get` and (with `resumed`) `resume` print it."""
    status = pb.SagaStatus.Name(saga.status)
    kind = "" if is_booking(saga) else f"  ({saga.saga} v{saga.saga_version})"
    lines = [
        f"saga {saga.saga_id}  {status}{kind}",
        f"correlation id {saga.correlation_id}"
        + (f"  (replayed for idempotency key {saga.idempotency_key})" if saga.replayed else ""),
    ]
    if saga.fault_plan:
        lines.append(f"faults  {saga.fault_plan}")
    if saga.cancelled_by:
        when = utc(saga.cancelled_at).strftime("%Y-%m-%d %H:%M:%S")
        lines.append(f"cancelled by {saga.cancelled_by} at {when} UTC: {saga.cancel_reason}")
    lines.append("")
    lines.append(
        f"  {'#':<2} {'step':<23} {'state':<20} {'do tries':>8}  {'undo tries':>10} {'ms':>6}"
        "  detail"
    )
    for st in saga.steps:
        state = pb.StepState.Name(st.state)
        detail = st.error or ""
        if state == "SUCCEEDED" or (st.result and not detail):
            fields = dict(st.result.items()) if st.result else {}
            keep = ("booking_reference", "transaction_id", "points_deducted", "fare_cents")
            detail = " ".join(
                f"{k}={fields[k]:g}" if isinstance(fields[k], float) else f"{k}={fields[k]}"
                for k in keep
                if k in fields
            )
        undo = str(st.compensation_attempts) if st.compensation_attempts else "-"
        lines.append(
            f"  {st.index:<2} {st.name:<23} {STATE_MARK.get(state, state):<20} "
            f"{st.attempts:>8}  {undo:>10} {st.duration_ms:>6}  {detail}".rstrip()
        )
    if saga.compensation_order:
        lines.append("")
        lines.append("compensations (in order): " + " -> ".join(saga.compensation_order))
    lines.append("")
    lines.extend(outcome(saga, resumed))
    return "\n".join(lines)


def outcome(saga: pb.Saga, resumed: bool = False) -> list[str]:
    """The last lines of `saga_text`: the booking made, or why not and what to do next."""
    status = pb.SagaStatus.Name(saga.status)
    if status == "COMPLETED" and not is_booking(saga):
        return [f"{saga.saga.upper()} COMPLETED  {facts_text(saga)}".rstrip()]
    if status == "COMPLETED":
        return [
            f"BOOKING CONFIRMED  reference {saga.booking_reference}",
            *itinerary(saga),
            f"fare {money(saga.fare_cents, saga.currency)}, charged "
            f"{money(saga.amount_charged_cents, saga.currency)} ({saga.transaction_id})",
        ]
    if status in ("RUNNING", "COMPENSATING"):
        follow = f"`flightsaga watch {saga.saga_id}` to follow it"
        if saga.cancelled_by:
            return [f"CANCEL LOGGED: the saga stops and compensates what ran; {follow}"]
        return [f"still {status.lower()}: {follow}"]
    if resumed and status == "COMPENSATED":
        return [
            "RESUMED: every compensation finished; nothing is left for an operator",
            f"no booking was made: {saga.error}",
        ]
    if resumed:
        return [
            f"STILL FAILED after the resume: {saga.error}",
            f"fix the cause, then `flightsaga resume {saga.saga_id}` again",
        ]
    what = "BOOKING NOT CONFIRMED" if is_booking(saga) else f"{saga.saga.upper()} NOT COMPLETED"
    lines = [f"{what}: {saga.error}"]
    if status == "FAILED":
        lines.append(f"needs an operator: `flightsaga resume {saga.saga_id} --clear-faults`")
    return lines


def event_text(e: pb.SagaEvent) -> str:
    at = e.at.ToDatetime().strftime("%H:%M:%S.%f")[:-3]
    kind = pb.SagaEventType.Name(e.type).removesuffix("_EVENT")
    step = f" {e.step}" if e.step else ""
    attempt = f" #{e.attempt}" if e.attempt else ""
    msg = f"  {e.message}" if e.message else ""
    return f"{at} {e.seq:>3} {kind:<24}{step}{attempt}{msg}"


LIST_HEADER = (
    f"{'saga id':<32}  {'status':<12} {'created (UTC)':<19}  {'failed at':<21} {'reason':<20} "
    f"{'ref':<7} flights"
)


def saga_row(s: pb.Saga) -> str:
    created = utc(s.created_at).strftime("%Y-%m-%d %H:%M:%S")
    # Other sagas than the booking: their name and input where the flights are.
    what = " ".join(s.request.flight_ids) if is_booking(s) else f"{s.saga}: {input_text(s)}"
    return (
        f"{s.saga_id:<32}  {pb.SagaStatus.Name(s.status):<12} {created:<19}  "
        f"{s.failed_step or '-':<21} {s.error_reason or '-':<20} "
        f"{s.booking_reference or '-':<7} {what}"
    )


def list_text(
    page: pb.ListSagasResponse,
    status: str = "",
    page_token: str = "",
    filtered: bool = False,
    again: str = "",
) -> str:
    """`flightsaga list`: a header, one row per saga, then how many of how many, and the
    options of the next page (`again`: those that must change, such as a fixed --since)."""
    kind = f"{status.lower()} sagas" if status else "sagas"
    if filtered:
        kind = f"{kind} matching the filter"
    if not page.sagas:
        if page_token:
            return f"no more {kind}"
        return f"no {kind}" if status or filtered else f"no {kind} yet"
    more = (
        f"; next page: --page-token {page.next_page_token}{again}" if page.next_page_token else ""
    )
    of = f"{page.total:,}+" if page.total_capped else str(page.total)
    footer = f"showing {len(page.sagas)} of {of} {kind}{more}"
    return "\n".join([LIST_HEADER, *(saga_row(s) for s in page.sagas), footer])


def types_text(found: pb.ListSagaTypesResponse) -> str:
    """`flightsaga sagas`: each served saga and version, its steps in order."""
    lines = []
    for t in found.sagas:
        latest = "  (latest: new sagas start here)" if t.latest else ""
        lines.append(f"{t.name} v{t.version}  {t.title}{latest}")
        lines.append(f"  input {t.input_type}: {', '.join(t.input_fields)}")
        for i, step in enumerate(t.steps, 1):
            names = ", ".join(step.aliases)
            lines.append(
                f"  {i}. {step.name:<23} {step.participant:<10} undo: {step.undo}"
                + (f"  (x-fail-at: {names})" if names else "")
            )
    return "\n".join(lines)


def stats_text(st: pb.Stats) -> str:
    return "\n".join(
        [
            f"sagas      total {st.total}: running {st.running}, compensating {st.compensating}, "
            f"completed {st.completed}, compensated {st.compensated}, failed {st.failed}",
            f"steps      pending {st.steps_pending}, executing {st.steps_executing}, "
            f"completed {st.steps_completed}, failed {st.steps_failed}",
            f"compensations pending {st.compensations_pending}, "
            f"completed {st.compensations_completed}",
        ]
    )
