"""Parsing the saga-level fault plan (x-fail-at / x-fault) and the per-attempt headers it sends."""

from __future__ import annotations

import pytest

from orchestrator import participant_calls
from orchestrator.faultplan import ALWAYS, FaultPlan
from sagakit.errors import InvalidArgument
from sagas.booking import STEP_ORDER, canonical_step


def parse(fail_at: str = "", fault: str = "") -> FaultPlan:
    return FaultPlan.parse(fail_at, fault, canonical_step, STEP_ORDER, lambda _: 9000)


def test_aliases_and_order_normalise() -> None:
    plan = parse("payment, seat", "booking:transient=2,loyalty:compensate-fail=always")
    assert plan.normalized() == (
        "reserve_seat:fail,deduct_loyalty_points:compensate-fail=always,"
        "process_payment:fail,confirm_booking:transient=2"
    )
    assert plan.for_step("deduct_loyalty_points").compensate_fail == ALWAYS


def test_round_trip_through_the_saga_log() -> None:
    plan = parse("", "payment:lost-reply,seat:delay=1.5s,booking:compensate-fail=3")
    again = FaultPlan.from_normalized(plan.normalized(), STEP_ORDER)
    assert again == plan
    assert plan.for_step("reserve_seat").delay_ms == 1500


def test_a_stored_plan_reaches_the_steps_of_any_saga_not_only_the_bookings() -> None:
    # A step the booking saga's v1 does not have (a later version's, another saga's): its
    # participant still gets the fault the saga was started with.
    stored = "reserve_seat:transient=1,buy_insurance:fail"
    assert participant_calls.faults(stored, "buy_insurance", True, 1) == (("x-fail", "do"),)
    assert participant_calls.faults(stored, "reserve_seat", True, 1) == (
        ("x-fault", "do:unavailable"),
    )
    assert FaultPlan.from_normalized(stored).normalized() == stored


def test_transient_then_success_by_attempt() -> None:
    plan = parse(fault="payment:transient=2")
    assert plan.do_metadata("process_payment", 1) == (("x-fault", "do:unavailable"),)
    assert plan.do_metadata("process_payment", 2) == (("x-fault", "do:unavailable"),)
    assert plan.do_metadata("process_payment", 3) == ()
    assert plan.do_metadata("reserve_seat", 1) == ()


def test_fail_and_compensation_faults() -> None:
    plan = parse("booking", "seat:compensate-fail=2")
    assert plan.do_metadata("confirm_booking", 1) == (("x-fail", "do"),)
    assert plan.compensate_metadata("reserve_seat", 2) == (("x-fault", "compensate:fail"),)
    assert plan.compensate_metadata("reserve_seat", 3) == ()


def test_default_delay_comes_from_the_orchestrator() -> None:
    assert parse(fault="payment:delay").do_metadata("process_payment", 3) == (
        ("x-fault", "do:delay=9000"),
    )


@pytest.mark.parametrize(
    ("fail_at", "fault", "field"),
    [
        ("nosuchstep", "", "x-fail-at"),
        ("", "payment", "x-fault"),
        ("", "payment:explode", "x-fault"),
        ("", "bogus:fail", "x-fault"),
        ("", "payment:transient=zero", "x-fault"),
        ("", "payment:delay=soon", "x-fault"),
    ],
)
def test_malformed_headers_name_the_header(fail_at: str, fault: str, field: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        parse(fail_at, fault)
    assert err.value.field == field
