"""Cross-service invariants, checked on plain data (records.py) so they can be unit-tested.

The orchestrator is trusted for one thing only, each saga's final status (and booking
reference); every effect is read from the participant that owns it. `per_saga` checks each
saga's effects, the others what no single saga explains.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from chaos.plan import COMPLETED, BookingSpec
from chaos.records import TERMINAL, FlightView, ParticipantRecords, SagaView
from chaos.workload import CallRecord


@dataclass(frozen=True)
class Violation:
    check: str
    subject: str  # the saga id (or the account, flight, key the aggregate is about)
    expected: str
    found: str

    def __str__(self) -> str:
        return f"{self.check}: {self.subject}: expected {self.expected}; found {self.found}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Evidence:
    sagas: dict[str, SagaView]  # the orchestrator's final list
    records: dict[str, ParticipantRecords]  # by saga id
    specs: dict[str, BookingSpec]  # by full idempotency key
    legs: dict[str, list[str]]  # by full idempotency key: the flight ids booked
    calls: list[CallRecord]
    key_prefix: str  # every key of this campaign starts with it
    flights_before: dict[str, FlightView] = field(default_factory=dict)
    flights_after: dict[str, FlightView] = field(default_factory=dict)
    balances_before: dict[str, int] = field(default_factory=dict)
    balances_after: dict[str, int] = field(default_factory=dict)
    preexisting: frozenset[str] = frozenset()  # saga ids there before the campaign (--target)
    bookings_log: set[str] | None = None  # saga ids in the bookings log (local stacks)


def _recorder(s: SagaView) -> tuple[list[Violation], Callable[[str, str, str], None]]:
    """A list of the saga's violations, and the function that adds one to it."""
    out: list[Violation] = []

    def bad(check: str, expected: str, found: str) -> None:
        out.append(Violation(check, s.saga_id, expected, found))

    return out, bad


def _completed(
    s: SagaView, r: ParticipantRecords, spec: BookingSpec | None, legs: list[str]
) -> list[Violation]:
    """A COMPLETED saga: each effect once (seats, points, charge), and a booking that matches."""
    return _completed_effects(s, r, spec, legs) + _completed_booking(s, r, spec)


def _completed_effects(
    s: SagaView, r: ParticipantRecords, spec: BookingSpec | None, legs: list[str]
) -> list[Violation]:
    out, bad = _recorder(s)
    active = [h for h in r.holds if h.active]
    held = Counter(h.flight_id for h in active)
    if spec is not None:
        want = Counter({leg: spec.passengers for leg in legs})
        if held != want:
            bad("completed: seats held", f"one per passenger per leg {dict(want)}", f"{dict(held)}")
    elif not active:
        bad("completed: seats held", "at least one seat held", "none")
    deductions = [m for m in r.movements if m[1] == "deduction"]
    refunds = [m for m in r.movements if m[1] != "deduction"]
    want_points = -spec.points if spec is not None else None
    if (
        len(deductions) != 1
        or refunds
        or (want_points is not None and deductions[0][2] != want_points)
    ):
        bad(
            "completed: points deducted once",
            f"one deduction of {spec.points if spec else '?'} points, no refund",
            f"movements {r.movements}",
        )
    if len(r.charges) != 1 or r.refunds:
        bad(
            "completed: charged once",
            "one charge, no refund",
            f"charges {r.charges}, refunds {r.refunds}",
        )
    return out


def _completed_booking(
    s: SagaView, r: ParticipantRecords, spec: BookingSpec | None
) -> list[Violation]:
    out, bad = _recorder(s)
    live = [b for b in r.bookings if b.status == "CONFIRMED"]
    if len(r.bookings) != 1 or len(live) != 1:
        bad(
            "completed: booking confirmed",
            "one CONFIRMED booking",
            f"{[(b.reference, b.status) for b in r.bookings]}",
        )
        return out
    b = live[0]
    if b.reference != s.booking_reference:
        bad(
            "completed: booking reference",
            s.booking_reference or "(orchestrator has none)",
            b.reference,
        )
    if len(r.charges) == 1:
        txn, cents = r.charges[0]
        if (b.transaction_id, b.amount_charged_cents) != (txn, cents):
            bad(
                "completed: booking matches payment",
                f"transaction {txn} for {cents} cents",
                f"booking says {b.transaction_id} for {b.amount_charged_cents} cents",
            )
    if spec is not None and b.points_used != spec.points:
        bad("completed: booking matches points", f"{spec.points} points", f"{b.points_used}")
    seats = frozenset((h.flight_id, h.seat) for h in r.holds if h.active)
    if b.seats != seats:
        bad(
            "completed: booking matches seats",
            f"seats held {sorted(seats)}",
            f"booking lists {sorted(b.seats)}",
        )
    return out


def _compensated(s: SagaView, r: ParticipantRecords) -> list[Violation]:
    out, bad = _recorder(s)
    active = [f"{h.flight_id}/{h.seat}" for h in r.holds if h.active]
    if active:
        bad("compensated: no seat held", "no seat held", f"still held: {active}")
    deductions = [m for m in r.movements if m[1] == "deduction"]
    if sum(m[2] for m in r.movements) != 0 or len(deductions) > 1:
        bad(
            "compensated: points net 0",
            "points net 0 (at most one deduction)",
            f"movements {r.movements}",
        )
    if sum(c for _, c in r.charges) != sum(r.refunds) or len(r.charges) > 1:
        bad(
            "compensated: charge refunded",
            "charged == refunded (at most one charge)",
            f"charges {r.charges}, refunds {r.refunds}",
        )
    live = [b.reference for b in r.bookings if b.status != "CANCELLED"]
    if live:
        bad("compensated: booking cancelled", "no booking, or CANCELLED", f"live booking(s) {live}")
    return out


def per_saga(ev: Evidence) -> list[Violation]:
    """Each saga's effects, by its final status.

    - COMPLETED: a seat held per passenger per leg (and nothing else), the points deducted once and
      not refunded, one charge and no refund, one CONFIRMED booking whose reference, transaction,
      points and seats agree with the other services' records;
    - COMPENSATED: no seat held, points net 0, charged == refunded, booking absent or CANCELLED;
    - anything else (RUNNING, COMPENSATING, FAILED) after quiescence and resume: a violation."""
    out: list[Violation] = []
    for sid, s in sorted(ev.sagas.items()):
        if sid not in ev.preexisting:
            out += _one_saga(ev, sid, s)
    return out


def _one_saga(ev: Evidence, sid: str, s: SagaView) -> list[Violation]:
    out: list[Violation] = []
    spec = ev.specs.get(s.key)
    if not s.key.startswith(ev.key_prefix):
        out.append(
            Violation(
                "saga started by the campaign",
                sid,
                f"an idempotency key starting {ev.key_prefix!r}",
                f"key {s.key!r} ({s.status}): an orphan saga nobody asked for",
            )
        )
    if s.status not in TERMINAL:
        return [
            *out,
            Violation("terminal", sid, "COMPLETED or COMPENSATED", f"{s.status} {s.error}".strip()),
        ]
    r = ev.records.get(sid)
    if r is None or r.read_error:
        why = r.read_error if r else "not read"
        return [*out, Violation("records readable", sid, "the participants' records", why)]
    if s.status != COMPLETED:
        return [*out, *_compensated(s, r)]
    if spec is not None and spec.expect != COMPLETED:
        out.append(
            Violation(
                "injected failure honoured",
                sid,
                f"{spec.expect} (x-fail-at {spec.fail_at!r}, x-fault {spec.fault!r}, "
                f"card {spec.card[-4:]})",
                "COMPLETED",
            )
        )
    return [*out, *_completed(s, r, spec, ev.legs.get(s.key, []))]


def keys(ev: Evidence) -> list[Violation]:
    by_key: defaultdict[str, list[str]] = defaultdict(list)
    for s in ev.sagas.values():
        if s.key and s.saga_id not in ev.preexisting:
            by_key[s.key].append(s.saga_id)
    return [
        Violation(
            "one saga per idempotency key", key, "one saga", f"{len(ids)} sagas: {sorted(ids)}"
        )
        for key, ids in sorted(by_key.items())
        if len(ids) > 1
    ]


def client_answers(ev: Evidence) -> list[Violation]:
    """What each call was told agrees with how its saga ended, and a key got one saga."""
    out: list[Violation] = []
    ids_by_key: defaultdict[str, set[str]] = defaultdict(set)
    for c in ev.calls:
        if c.saga_id:
            ids_by_key[c.key].add(c.saga_id)
            out += _answer(c, ev.sagas.get(c.saga_id))
    for key, ids in sorted(ids_by_key.items()):
        if len(ids) > 1:
            out.append(
                Violation(
                    "one saga per idempotency key",
                    key,
                    "every call answered with one saga",
                    f"{sorted(ids)}",
                )
            )
    return out


def _answer(c: CallRecord, final: SagaView | None) -> list[Violation]:
    """One call's answer against its saga's end (`final`: None when the log has no such saga)."""
    told = f"call {c.attempt} of key {c.key} was told {c.status}"

    def bad(expected: str, actual: str) -> Violation:
        return Violation("client answer", c.saga_id, expected, actual)

    if final is None:
        return [bad(f"a saga the orchestrator knows ({told})", "unknown saga")]
    out = []
    if final.key != c.key:
        out.append(bad(f"the saga of key {c.key}", f"saga of key {final.key!r}"))
    if c.status == "COMPLETED" and (
        final.status != "COMPLETED" or final.booking_reference != c.booking_reference
    ):
        out.append(
            bad(
                f"COMPLETED with reference {c.booking_reference} ({told})",
                f"{final.status} with reference {final.booking_reference!r}",
            )
        )
    elif c.status == "COMPENSATED" and final.status != "COMPENSATED":
        out.append(bad(f"COMPENSATED ({told})", final.status))
    elif c.status in ("COMPENSATING", "FAILED") and final.status == "COMPLETED":
        out.append(bad(f"not COMPLETED ({told})", "COMPLETED"))
    return out


def seats(ev: Evidence) -> list[Violation]:
    out: list[Violation] = []
    for fid, after in sorted(ev.flights_after.items()):
        if after.seats_available != after.economy_seats - after.economy_held:
            out.append(
                Violation(
                    "seats available",
                    fid,
                    f"{after.economy_seats - after.economy_held} free economy seats (seat map: "
                    f"{after.economy_held} of {after.economy_seats} held)",
                    f"seats_available {after.seats_available}",
                )
            )
        before = ev.flights_before.get(fid)
        old = before.holders if before else {}
        for seat, sid in sorted(after.holders.items()):
            if old.get(seat) == sid:
                continue  # held before the campaign began: not ours to judge
            s = ev.sagas.get(sid)
            if s is None or s.status != COMPLETED:
                who = (
                    f"saga {sid} ({s.status})" if s else f"saga {sid}, unknown to the orchestrator"
                )
                out.append(
                    Violation(
                        "orphan seat hold",
                        f"{fid}/{seat}",
                        "held only by a COMPLETED saga",
                        f"held by {who}",
                    )
                )
    # Every seat a completed saga holds shows in its flight's seat map, under that saga.
    for sid, r in sorted(ev.records.items()):
        s = ev.sagas.get(sid)
        if s is None or s.status != COMPLETED:
            continue
        for h in r.holds:
            flight = ev.flights_after.get(h.flight_id)
            if h.active and flight is not None and flight.holders.get(h.seat) != sid:
                out.append(
                    Violation(
                        "seat map agrees",
                        sid,
                        f"{h.flight_id}/{h.seat} held by this saga",
                        f"seat map says {flight.holders.get(h.seat) or 'free'}",
                    )
                )
    return out


def balances(ev: Evidence) -> list[Violation]:
    out: list[Violation] = []
    spent: Counter[str] = Counter()
    moved: Counter[str] = Counter()
    for s in ev.sagas.values():
        if s.saga_id in ev.preexisting:
            continue
        spec = ev.specs.get(s.key)
        if s.status == COMPLETED and spec is not None:
            spent[spec.account] += spec.points
        for account, _, delta in ev.records.get(s.saga_id, ParticipantRecords("")).movements:
            moved[account] += delta
    for account, start in sorted(ev.balances_before.items()):
        end = ev.balances_after.get(account)
        if end is None:
            continue
        if end != start - spent[account]:
            why = (
                "the sagas' own movements explain it: points moved for a saga that did not complete"
                if end - start == moved[account]
                else f"the sagas' movements explain {moved[account]:+}: some movement belongs "
                "to no saga of this campaign (an orphan)"
            )
            out.append(
                Violation(
                    "account balance",
                    account,
                    f"{start} - {spent[account]} points of completed sagas "
                    f"= {start - spent[account]}",
                    f"{end} ({end - start:+}); {why}",
                )
            )
    return out


def bookings_log(ev: Evidence) -> list[Violation]:
    if ev.bookings_log is None:
        return []
    return [
        Violation("bookings log complete", sid, "one line for the finished saga", "no line")
        for sid, s in sorted(ev.sagas.items())
        if s.status in TERMINAL and sid not in ev.bookings_log and sid not in ev.preexisting
    ]


def check(ev: Evidence) -> list[Violation]:
    """Every invariant. Beside each saga's own: every held seat on the campaign's flights belongs to
    a COMPLETED saga, each flight's free-seat count matches its seat map, each account's balance
    moved by exactly the completed sagas' points; one saga per idempotency key, every saga the
    orchestrator has was started by this campaign, and every client's answer agrees with the end."""
    return [
        *per_saga(ev),
        *keys(ev),
        *client_answers(ev),
        *seats(ev),
        *balances(ev),
        *bookings_log(ev),
    ]
