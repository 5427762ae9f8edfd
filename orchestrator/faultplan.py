"""The saga-level fault plan (x-fail-at / x-fault on BookFlight) and what it sends per attempt.

The plan is normalised to the x-fault grammar (FaultPlan) and stored with the saga, so retries
and crash recovery see the same faults. Attempt counts are the persisted ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from sagakit.errors import InvalidArgument
from sagakit.participant_faults import parse_duration_ms

ALWAYS = -1
KINDS = ("fail", "transient", "lost-reply", "delay", "compensate-fail")


@dataclass(frozen=True)
class StepFaults:
    fail: bool = False
    transient: int = 0
    lost_reply: int = 0
    delay_ms: int = 0
    compensate_fail: int = 0  # ALWAYS = until cleared

    def tokens(self, step: str) -> list[str]:
        out = []
        if self.fail:
            out.append(f"{step}:fail")
        if self.transient:
            out.append(f"{step}:transient={self.transient}")
        if self.lost_reply:
            out.append(f"{step}:lost-reply={self.lost_reply}")
        if self.delay_ms:
            out.append(f"{step}:delay={self.delay_ms}")
        if self.compensate_fail:
            n = "always" if self.compensate_fail == ALWAYS else str(self.compensate_fail)
            out.append(f"{step}:compensate-fail={n}")
        return out


def _count(field: str, token: str, arg: str, allow_always: bool = False) -> int:
    if not arg:
        return 1
    if allow_always and arg == "always":
        return ALWAYS
    if not arg.isdigit() or not 1 <= int(arg) <= 100:
        hint = "a count 1..100" + (" or 'always'" if allow_always else "")
        raise InvalidArgument(field, f"{token!r}: expected {hint}")
    return int(arg)


@dataclass(frozen=True)
class FaultPlan:
    """Each step's faults, from x-fail-at and x-fault.

    x-fault is comma-separated `step:kind[=arg]`, with step names or aliases:

        step:fail                 business failure at the step (same as listing it in x-fail-at)
        step:transient[=N]        UNAVAILABLE on the first N Do attempts (default 1), then success
        step:lost-reply[=N]       the participant commits, the reply is lost on the first N attempts
        step:delay[=MS]           every Do attempt is held MS ms at the participant (default: long
                                  enough that every attempt times out); the step is compensated and
                                  the late Do is refused by the participant's barrier
        step:compensate-fail[=N]  the compensation fails N times (default 1); N=always keeps failing
                                  until ResumeSaga clears the faults
    """

    steps: tuple[tuple[str, StepFaults], ...] = ()

    @property
    def empty(self) -> bool:
        return not self.steps

    def for_step(self, step: str) -> StepFaults:
        return dict(self.steps).get(step, StepFaults())

    def normalized(self) -> str:
        return ",".join(t for name, f in self.steps for t in f.tokens(name))

    @classmethod
    def parse(
        cls,
        x_fail_at: str,
        x_fault: str,
        resolve: Callable[[str, str], str],
        order: tuple[str, ...],
        default_delay_ms: Callable[[str], int],
    ) -> FaultPlan:
        """Parse the headers; `resolve(name, field)` maps aliases and rejects unknown steps."""
        plan: dict[str, StepFaults] = {}

        def add(step: str, **changes: object) -> None:
            plan[step] = replace(plan.get(step, StepFaults()), **changes)  # type: ignore[arg-type]

        for token in filter(None, (t.strip() for t in x_fail_at.split(","))):
            add(resolve(token, "x-fail-at"), fail=True)
        for token in filter(None, (t.strip() for t in x_fault.split(","))):
            name, sep, rest = token.partition(":")
            if not sep:
                raise InvalidArgument("x-fault", f"{token!r} must be step:kind (kinds: {KINDS})")
            step = resolve(name, "x-fault")
            kind, _, arg = rest.strip().lower().partition("=")
            if kind == "fail":
                add(step, fail=True)
            elif kind == "transient":
                add(step, transient=_count("x-fault", token, arg))
            elif kind == "lost-reply":
                add(step, lost_reply=_count("x-fault", token, arg))
            elif kind == "delay":
                ms = parse_duration_ms("x-fault", arg) if arg else default_delay_ms(step)
                add(step, delay_ms=max(ms, 1))
            elif kind == "compensate-fail":
                add(step, compensate_fail=_count("x-fault", token, arg, allow_always=True))
            else:
                raise InvalidArgument(
                    "x-fault", f"unknown fault kind {kind!r} in {token!r} (known: {KINDS})"
                )
        return cls(tuple((s, plan[s]) for s in order if s in plan))

    @classmethod
    def from_normalized(cls, text: str, order: tuple[str, ...] | None = None) -> FaultPlan:
        """A stored plan (normalized()) parsed back. Its steps are in saga order already, so
        `order` may be left out: then every step it names is kept, whichever saga (and version
        of it) the plan belongs to."""

        def same(name: str, _: str) -> str:
            return name

        if order is None:
            order = tuple(dict.fromkeys(t.partition(":")[0].strip() for t in text.split(",") if t))
        return cls.parse("", text, same, order, lambda _: 1)

    def do_metadata(self, step: str, attempt: int) -> tuple[tuple[str, str], ...]:
        """Participant-level headers for Do attempt `attempt` (1-based) of `step`."""
        f = self.for_step(step)
        if f.fail:
            return (("x-fail", "do"),)
        faults = []
        if attempt <= f.transient:
            faults.append("do:unavailable")
        elif attempt <= f.lost_reply:
            faults.append("do:lost-reply")
        if f.delay_ms:
            faults.append(f"do:delay={f.delay_ms}")
        return (("x-fault", ",".join(faults)),) if faults else ()

    def compensate_metadata(self, step: str, attempt: int) -> tuple[tuple[str, str], ...]:
        f = self.for_step(step)
        if f.compensate_fail == ALWAYS or attempt <= f.compensate_fail:
            return (("x-fault", "compensate:fail"),)
        return ()
