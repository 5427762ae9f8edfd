"""The matrix's columns: one fault kind each, and what every cell of it must end with.

A column turns a step (its index in the saga) into a Scenario: the headers to send, the
expected stop (status, compensation order, each step's effect at its participant) and, for
faults an operator must clear, the action that follows and the stop after it (or an action
taken while a step runs, as `cancel` does). Adding a column is one entry in COLUMNS (and, for
a new kind of action, one in cells.ACTIONS).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from testkit.matrix.effects import Effect

COMPLETED, COMPENSATED, FAILED = "COMPLETED", "COMPENSATED", "FAILED"
NOT_EFFECTIVE = frozenset({Effect.NONE, Effect.UNDONE})  # never ran, or ran and was undone
ANY_BUT_UNDONE = frozenset({Effect.NONE, Effect.EFFECTIVE})  # a late Do may land, uncompensated
CANCEL_REASON = "flightsaga matrix: cancelled while the step runs"

Effects = tuple[frozenset[Effect], ...]  # allowed effects, one set per step in saga order


@dataclass(frozen=True)
class Expect:
    status: str
    compensations: tuple[str, ...]  # the saga's compensation_order, exactly
    effects: Effects
    cancelled: bool = False  # an operator's cancel: cancelled_by, cancel_reason, SAGA_CANCELLED


@dataclass(frozen=True)
class FollowUp:
    action: str  # a key of cells.ACTIONS, e.g. "resume"
    expect: Expect


@dataclass(frozen=True)
class During:
    """An action taken while the saga runs, once `step`'s Do is in flight (e.g. a cancel while
    a delay under the deadline holds the step)."""

    action: str  # a key of cells.ACTIONS
    step: str


@dataclass(frozen=True)
class Scenario:
    fail_at: str  # x-fail-at
    fault: str  # x-fault
    expect: Expect  # the first stop (after `during`, when there is one)
    then: FollowUp | None = None
    during: During | None = None


@dataclass(frozen=True)
class NotApplicable:
    reason: str


@dataclass(frozen=True)
class Column:
    name: str  # the column's key in the report, e.g. "transient=2"
    title: str  # one line for people
    scenario: Callable[[int, Sequence[str]], Scenario | NotApplicable]


def _one(effect: Effect) -> frozenset[Effect]:
    return frozenset({effect})


def _undone_before(k: int, steps: Sequence[str], at_k: frozenset[Effect]) -> Effects:
    """Steps before k undone, step k as given, steps after k never run."""
    return tuple(
        _one(Effect.UNDONE) if i < k else at_k if i == k else _one(Effect.NONE)
        for i in range(len(steps))
    )


def _completed(steps: Sequence[str]) -> Expect:
    return Expect(COMPLETED, (), tuple(_one(Effect.EFFECTIVE) for _ in steps))


def fail(k: int, steps: Sequence[str]) -> Scenario:
    """A business failure at step k: the steps before it are undone, last first."""
    comps = tuple(reversed(steps[:k]))
    return Scenario(
        steps[k], "", Expect(COMPENSATED, comps, _undone_before(k, steps, _one(Effect.NONE)))
    )


def transient(n: int) -> Callable[[int, Sequence[str]], Scenario]:
    def scenario(k: int, steps: Sequence[str]) -> Scenario:
        return Scenario("", f"{steps[k]}:transient={n}", _completed(steps))

    return scenario


def lost_reply(k: int, steps: Sequence[str]) -> Scenario:
    """The participant commits and the reply is lost: the retry gets the first result."""
    return Scenario("", f"{steps[k]}:lost-reply", _completed(steps))


def delay(k: int, steps: Sequence[str]) -> Scenario:
    """Every Do attempt outlives its deadline: the outcome is unknown, so step k is compensated
    too, and the late Do is refused by the participant's barrier."""
    comps = tuple(reversed(steps[: k + 1]))
    return Scenario(
        "", f"{steps[k]}:delay", Expect(COMPENSATED, comps, _undone_before(k, steps, NOT_EFFECTIVE))
    )


def _trigger(k: int, steps: Sequence[str]) -> tuple[str, str, int]:
    """(x-fail-at, x-fault prefix, index of the step whose failure starts the compensation)
    that make step k compensate. A step is compensated only when a later step fails, or when
    its own outcome is unknown: steps before the last pair with a failure of the last step
    (so every step between them is compensated first); the last step, which no step follows,
    pairs with a delay of its own Do."""
    last = len(steps) - 1
    if k < last:
        return steps[last], "", last
    return "", f"{steps[k]}:delay,", k


def _compensated_via(k: int, steps: Sequence[str]) -> Expect:
    _, _, t = _trigger(k, steps)
    at_t = _one(Effect.NONE) if t != k else NOT_EFFECTIVE
    comps = tuple(reversed(steps[: t + (t == k)]))
    return Expect(COMPENSATED, comps, _undone_before(t, steps, at_t))


def compensate_fail(n: int) -> Callable[[int, Sequence[str]], Scenario]:
    def scenario(k: int, steps: Sequence[str]) -> Scenario:
        fail_at, prefix, _ = _trigger(k, steps)
        return Scenario(
            fail_at, f"{prefix}{steps[k]}:compensate-fail={n}", _compensated_via(k, steps)
        )

    return scenario


def _stuck(k: int, steps: Sequence[str]) -> Expect:
    """FAILED at step k's compensation: the steps compensated before it are undone; step k and
    the steps before it still stand (a delayed last step may or may not have landed)."""
    _, _, t = _trigger(k, steps)
    effects = []
    for i in range(len(steps)):
        if i == k:
            effects.append(_one(Effect.EFFECTIVE) if t != k else ANY_BUT_UNDONE)
        elif i < k:
            effects.append(_one(Effect.EFFECTIVE))
        else:
            effects.append(_one(Effect.NONE) if i == t else _one(Effect.UNDONE))
    return Expect(FAILED, tuple(reversed(steps[k + 1 : t])), tuple(effects))


def compensate_fail_always(k: int, steps: Sequence[str]) -> Scenario:
    """The compensation keeps failing: FAILED; ResumeSaga with clear_faults finishes it."""
    fail_at, prefix, _ = _trigger(k, steps)
    return Scenario(
        fail_at,
        f"{prefix}{steps[k]}:compensate-fail=always",
        _stuck(k, steps),
        FollowUp("resume", _compensated_via(k, steps)),
    )


def cancel(k: int, steps: Sequence[str]) -> Scenario:
    """CancelSaga while step k's Do is held in flight (a delay past the deadline keeps it there):
    step k may have run, so it is compensated with the earlier steps, last first; its effect ends
    none (the held Do refused by the barrier) or undone; later steps never run."""
    comps = tuple(reversed(steps[: k + 1]))
    expect = Expect(COMPENSATED, comps, _undone_before(k, steps, NOT_EFFECTIVE), cancelled=True)
    return Scenario("", f"{steps[k]}:delay", expect, during=During("cancel", steps[k]))


COLUMNS: tuple[Column, ...] = (
    Column("fail", "a business failure of the step", fail),
    Column("transient=2", "UNAVAILABLE twice, then success", transient(2)),
    Column("lost-reply", "the step commits, its reply is lost once", lost_reply),
    Column("delay", "every Do attempt outlives the step deadline", delay),
    Column("compensate-fail=2", "the step's compensation fails twice", compensate_fail(2)),
    Column(
        "compensate-fail=always+resume",
        "the step's compensation keeps failing (FAILED), then ResumeSaga clear_faults",
        compensate_fail_always,
    ),
    Column("cancel", "CancelSaga while the step's Do is held in flight", cancel),
)
