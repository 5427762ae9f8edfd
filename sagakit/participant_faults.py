"""Participant-level fault injection: what x-fail / x-fault on a Do or Compensate mean.

The orchestrator forwards these headers to the targeted participant; the grammar is
docs/api.md#fault-injection's, and parse_participant_faults' docstring.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from sagakit.errors import InvalidArgument

OPS = ("do", "compensate")
KINDS = ("fail", "unavailable", "lost-reply", "delay")
MAX_DELAY_MS = 600_000


@dataclass(frozen=True)
class Fault:
    op: str
    kind: str
    delay_ms: int = 0

    def header(self) -> str:
        return f"{self.op}:{self.kind}" + (f"={self.delay_ms}" if self.kind == "delay" else "")


def parse_duration_ms(field: str, raw: str) -> int:
    raw = raw.strip().lower()
    scale = 1.0
    if raw.endswith("ms"):
        raw = raw[:-2]
    elif raw.endswith("s"):
        raw, scale = raw[:-1], 1000.0
    try:
        number = float(raw) * scale
        if not math.isfinite(number):
            raise ValueError(raw)
        value = int(number)
    except ValueError:
        raise InvalidArgument(field, f"bad duration {raw!r} (use e.g. 1500 or 1.5s)") from None
    if not 0 <= value <= MAX_DELAY_MS:
        raise InvalidArgument(field, f"duration must be 0..{MAX_DELAY_MS} ms")
    return value


def parse_participant_faults(
    x_fail: str, x_fault: str, own_step: str, canonical_step: Callable[[str, str], str]
) -> list[Fault]:
    """Parse both headers for the service owning `own_step`; errors name the header.
    `canonical_step(name, field)`: a step name or alias as its saga spells it.

    x-fail:  comma-separated `do`, `compensate`, or this service's step name / alias (= do).
             The operation fails as a business failure (Do: ABORTED; Compensate: INTERNAL).
    x-fault: comma-separated `op:kind[=arg]`, op in {do, compensate}:
               fail          as x-fail
               unavailable   UNAVAILABLE before any change (a transient failure)
               lost-reply    the change commits, then the reply is UNAVAILABLE
               delay=MS      wait MS milliseconds (suffix ms or s allowed) before handling; the
                             request is still processed after its caller gave up (a hanging request)
    """
    faults: list[Fault] = []
    for token in filter(None, (t.strip().lower() for t in x_fail.split(","))):
        if token in OPS:
            faults.append(Fault(token, "fail"))
        elif token in ("true", "1", "yes"):
            faults.append(Fault("do", "fail"))
        else:
            step = canonical_step(token, "x-fail")
            if step != own_step:
                raise InvalidArgument("x-fail", f"step {step!r} is not served here ({own_step})")
            faults.append(Fault("do", "fail"))
    for token in filter(None, (t.strip().lower() for t in x_fault.split(","))):
        op, sep, rest = token.partition(":")
        if not sep or op not in OPS:
            raise InvalidArgument("x-fault", f"{token!r} must be op:kind with op in {OPS}")
        kind, _, arg = rest.partition("=")
        if kind not in KINDS:
            raise InvalidArgument("x-fault", f"unknown kind {kind!r} (known: {', '.join(KINDS)})")
        if kind == "delay" and not arg:
            raise InvalidArgument("x-fault", "delay needs a duration, e.g. do:delay=1500")
        delay = parse_duration_ms("x-fault", arg) if kind == "delay" else 0
        faults.append(Fault(op, kind, delay))
    return faults
