"""The chaos campaign's schedule follows from the seed alone."""

from __future__ import annotations

from collections import Counter

from chaos import plan


def test_same_seed_same_schedule_other_seed_other_schedule() -> None:
    a = plan.build(plan.Settings(seed=5, sagas=300))
    assert a == plan.build(plan.Settings(seed=5, sagas=300))
    assert a != plan.build(plan.Settings(seed=6, sagas=300))


def test_every_phase_kind_and_every_service_killed() -> None:
    p = plan.build(plan.Settings(seed=1, sagas=220))
    assert {ph.kind for ph in p.phases} == set(plan.PHASE_KINDS)
    assert {ph.target for ph in p.phases if ph.kind == plan.KILL} == set(plan.SERVICES)
    assert p.kills == plan.minimum_kills()
    assert p.bookings == 220
    assert len({b.key for ph in p.phases for b in ph.bookings}) == 220


def test_extra_kills_are_added_as_kill_phases() -> None:
    p = plan.build(plan.Settings(seed=2, sagas=100, kills=20))
    assert p.kills == 20
    assert Counter(ph.kind for ph in p.phases)[plan.KILL] == len(plan.SERVICES) + 8


def test_outages_are_sized_from_the_stack_settings() -> None:
    s = plan.Settings(seed=3, sagas=100, step_timeout_s=1.0, saga_timeout_s=6.0)
    by_kind = {ph.kind: ph for ph in plan.build(s).phases}
    assert by_kind[plan.LONG_OUTAGE].outage_s > s.saga_timeout_s
    assert by_kind[plan.SIGSTOP].outage_s > s.step_timeout_s
    assert 1.0 <= by_kind[plan.PARTICIPANT_OUTAGE].outage_s <= 5.0
    # The long outage's bookings sit in a step delayed under its deadline: they would complete.
    for b in by_kind[plan.LONG_OUTAGE].bookings:
        assert ":delay=" in b.fault and b.expect == plan.COMPLETED
        assert int(b.fault.split("=")[1]) < s.step_timeout_s * 1000
    hangups = by_kind[plan.HANGUPS].bookings
    assert all(1 <= b.hangup_ms <= 40 for b in hangups)
    assert {b.retries for b in hangups} == {0, 1}  # some come back with the same key


def test_against_a_target_nothing_is_killed_and_the_skips_are_said() -> None:
    p = plan.build(plan.Settings(seed=1, sagas=50, processes=False))
    assert {ph.kind for ph in p.phases} == {plan.FAULTS, plan.HANGUPS}
    assert p.kills == 0
    assert {s.split(":")[0] for s in p.skipped} == set(plan.NEEDS_PROCESSES)


def test_time_bounded_phases_draw_the_same_bookings_as_count_bounded_ones() -> None:
    s = plan.Settings(seed=9, sagas=110)
    p = plan.build(s)
    for ph in p.phases:
        assert list(ph.bookings) == [
            plan.nth_booking(s, ph.index, ph.kind, n) for n in range(len(ph.bookings))
        ]


def test_fault_mix_expectations() -> None:
    s = plan.Settings(seed=4, sagas=2000)
    books = [b for ph in plan.build(s).phases for b in ph.bookings]
    for b in books:
        if b.fail_at or b.card == plan.DECLINED_CARD or b.fault.endswith(":delay"):
            assert b.expect in (plan.COMPENSATED, plan.FAILED), b
        if "compensate-fail=always" in b.fault:
            assert b.expect == plan.FAILED
    assert Counter(b.expect for b in books).keys() == {
        plan.COMPLETED,
        plan.COMPENSATED,
        plan.FAILED,
    }
