"""The chaos campaign's invariants on synthetic records: they hold, and each one can fail."""

from __future__ import annotations

from dataclasses import replace

from chaos import invariants
from chaos.plan import COMPENSATED, COMPLETED, GOOD_CARD, BookingSpec
from chaos.records import BookingRow, FlightView, Hold, ParticipantRecords, SagaView
from chaos.workload import CallRecord

PREFIX = "chaos-t-"
FLIGHT = "FS101-20270105"


def spec(key: str, points: int = 10, expect: str = COMPLETED, fail_at: str = "") -> BookingSpec:
    return BookingSpec(key, 0, (0,), 1, "LOY-1004", points, GOOD_CARD, fail_at, "", expect)


def completed_records(sid: str, seat: str = "11A", points: int = 10) -> ParticipantRecords:
    return ParticipantRecords(
        sid,
        holds=[Hold(FLIGHT, seat, True)],
        movements=[("LOY-1004", "deduction", -points)],
        charges=[(f"txn_{sid}", 1000)],
        bookings=[
            BookingRow(
                f"REF{sid}", "CONFIRMED", f"txn_{sid}", points, 1000, frozenset({(FLIGHT, seat)})
            )
        ],
    )


def compensated_records(sid: str) -> ParticipantRecords:
    return ParticipantRecords(
        sid,
        holds=[Hold(FLIGHT, "12A", False)],
        movements=[("LOY-1004", "deduction", -5), ("LOY-1004", "refund", 5)],
        charges=[(f"txn_{sid}", 700)],
        refunds=[700],
        bookings=[BookingRow(f"REF{sid}", "CANCELLED", f"txn_{sid}", 5, 700, frozenset())],
    )


def evidence() -> invariants.Evidence:
    """Two sagas: s1 COMPLETED (seat 11A, 10 points), s2 COMPENSATED; all consistent."""
    k1, k2 = PREFIX + "00-000001", PREFIX + "00-000002"
    sagas = {
        "s1": SagaView("s1", k1, "COMPLETED", "REFs1"),
        "s2": SagaView("s2", k2, "COMPENSATED"),
    }
    flight = FlightView(FLIGHT, 149, 150, {"11A": "s1"}, 1)
    return invariants.Evidence(
        sagas=sagas,
        records={"s1": completed_records("s1"), "s2": compensated_records("s2")},
        specs={k1: spec(k1), k2: spec(k2, 5, COMPENSATED, "payment")},
        legs={k1: [FLIGHT], k2: [FLIGHT]},
        calls=[
            CallRecord(k1, 0, 0, 20000, "OK", "s1", "COMPLETED", "REFs1"),
            CallRecord(k2, 0, 0, 30, "DEADLINE_EXCEEDED"),
            CallRecord(k2, 0, 1, 20000, "OK", "s2", "COMPENSATED"),
        ],
        key_prefix=PREFIX,
        flights_before={FLIGHT: FlightView(FLIGHT, 150, 150, {}, 0)},
        flights_after={FLIGHT: flight},
        balances_before={"LOY-1004": 1000},
        balances_after={"LOY-1004": 990},
        bookings_log={"s1", "s2"},
    )


def checks(ev: invariants.Evidence) -> set[tuple[str, str]]:
    return {(v.check, v.subject) for v in invariants.check(ev)}


def test_consistent_records_hold() -> None:
    assert invariants.check(evidence()) == []


def test_completed_saga_without_its_charge_or_with_a_cancelled_booking() -> None:
    ev = evidence()
    ev.records["s1"].charges = []
    ev.records["s1"].bookings[0] = replace(ev.records["s1"].bookings[0], status="CANCELLED")
    assert checks(ev) == {
        ("completed: charged once", "s1"),
        ("completed: booking confirmed", "s1"),
    }


def test_completed_saga_whose_booking_disagrees_with_payment_and_seats() -> None:
    ev = evidence()
    ev.records["s1"].bookings[0] = replace(
        ev.records["s1"].bookings[0], transaction_id="txn_other", seats=frozenset({(FLIGHT, "9Z")})
    )
    assert checks(ev) == {
        ("completed: booking matches payment", "s1"),
        ("completed: booking matches seats", "s1"),
    }


def test_compensated_saga_that_kept_a_seat_points_money_and_booking() -> None:
    ev = evidence()
    r = ev.records["s2"]
    r.holds = [Hold(FLIGHT, "12A", True)]
    r.movements = r.movements[:1]
    r.refunds = []
    r.bookings = [replace(r.bookings[0], status="CONFIRMED")]
    ev.flights_after[FLIGHT].holders["12A"] = "s2"
    ev.balances_after["LOY-1004"] = 985
    got = checks(ev)
    assert {
        ("compensated: no seat held", "s2"),
        ("compensated: points net 0", "s2"),
        ("compensated: charge refunded", "s2"),
        ("compensated: booking cancelled", "s2"),
        ("orphan seat hold", f"{FLIGHT}/12A"),
        ("account balance", "LOY-1004"),
    } == got


def test_orphan_seat_and_points_of_a_saga_nobody_knows() -> None:
    ev = evidence()
    ev.flights_after[FLIGHT].holders["30F"] = "ghost"
    ev.balances_after["LOY-1004"] = 983
    (orphan,) = [v for v in invariants.check(ev) if v.check == "orphan seat hold"]
    assert (
        orphan.subject == f"{FLIGHT}/30F" and "ghost, unknown to the orchestrator" in orphan.found
    )
    (balance,) = [v for v in invariants.check(ev) if v.check == "account balance"]
    assert "orphan" in balance.found


def test_seats_available_must_match_the_seat_map() -> None:
    ev = evidence()
    ev.flights_after[FLIGHT] = replace(ev.flights_after[FLIGHT], seats_available=150)
    assert checks(ev) == {("seats available", FLIGHT)}


def test_non_terminal_unknown_and_duplicate_sagas() -> None:
    ev = evidence()
    ev.sagas["s3"] = SagaView("s3", PREFIX + "00-000001", "FAILED")
    ev.sagas["s4"] = SagaView("s4", "someone-else", "COMPENSATED")
    ev.records["s4"] = ParticipantRecords("s4")
    got = checks(ev)
    assert ("terminal", "s3") in got
    assert ("one saga per idempotency key", PREFIX + "00-000001") in got
    assert ("saga started by the campaign", "s4") in got


def test_client_answers_are_checked_against_the_end() -> None:
    ev = evidence()
    ev.sagas["s1"] = replace(ev.sagas["s1"], booking_reference="OTHER")
    ev.records["s1"].bookings[0] = replace(ev.records["s1"].bookings[0], reference="OTHER")
    ev.calls.append(CallRecord(PREFIX + "00-000002", 0, 2, 20000, "OK", "s9", "RUNNING"))
    got = checks(ev)
    assert ("client answer", "s1") in got  # told COMPLETED with REFs1
    assert ("client answer", "s9") in got  # a saga the orchestrator does not know
    assert ("one saga per idempotency key", PREFIX + "00-000002") in got


def test_injected_failure_that_completed_and_missing_bookings_log_line() -> None:
    ev = evidence()
    k1 = PREFIX + "00-000001"
    ev.specs[k1] = spec(k1, fail_at="booking", expect=COMPENSATED)
    assert ev.bookings_log is not None
    ev.bookings_log.discard("s2")
    assert checks(ev) == {
        ("injected failure honoured", "s1"),
        ("bookings log complete", "s2"),
    }
