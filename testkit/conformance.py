"""The participant contract as clauses, each run against a live participant on sagas of its
own (ids `conform-<run>-<clause>-<n>`), judged by the replies and the participant's Records.
Every saga a run opens is compensated at its end, so a run leaves nothing held.

    report = await conform("127.0.0.1:50051", BOOK_FLIGHT, "reserve_seat")
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message

from sagakit.errors import BUSINESS_FAILURE_CODES
from sagas.declare import SagaDeclaration
from testkit.report import ClauseResult, Report
from testkit.subject import Outcome, Records, RecordsUnreadable, Subject, as_dict

CONCURRENCY = 8  # identical Do calls at once
RACE_ROUNDS = 5  # Do ‖ Compensate races, a fresh saga each
REFUSALS = {code.name for code in BUSINESS_FAILURE_CODES}
NO_ANSWER = ("UNAVAILABLE", "DEADLINE_EXCEEDED")
_SECRET_FIELDS = ("number", "cvc")


def _redact(value: Any) -> Any:
    """Sample card fields kept out of reports (a test card, but reports get shared)."""
    if isinstance(value, dict):
        return {k: "***" if k in _SECRET_FIELDS else _redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value


class Check:
    """One clause's run: its sagas, the evidence it gathers, the problems it finds."""

    def __init__(self, subject: Subject, run: str, name: str, opened: list[str]) -> None:
        self.subject = subject
        self.prefix = f"conform-{run}-{name}"
        self.opened = opened
        self.evidence: list[tuple[str, str]] = []
        self.problems: list[str] = []

    def saga_id(self, n: int) -> str:
        saga_id = f"{self.prefix}-{n}"
        self.opened.append(saga_id)
        return saga_id

    def note(self, what: str, detail: str) -> None:
        self.evidence.append((what, detail))

    def expect(self, ok: bool, problem: str) -> bool:
        if not ok:
            self.problems.append(problem)
        return ok

    async def send(self, what: str, request: Message) -> Outcome:
        out = await self.subject.send_do(request)
        body = json.dumps(_redact(as_dict(request)), sort_keys=True)
        self.note(f"sent {what} {body}", out.describe())
        return out

    async def do(self, saga_id: str, variant: int = 0) -> Outcome:
        request = self.subject.request(saga_id, variant)
        return await self.send(f"Do {saga_id} (sample variant {variant})", request)

    async def compensate(self, saga_id: str) -> Outcome:
        out = await self.subject.compensate(saga_id)
        self.note(f"sent Compensate {saga_id}", out.describe())
        return out

    async def records(self, saga_id: str) -> Records:
        rec = await self.subject.records(saga_id)
        self.note(f"records of {saga_id}", rec.describe())
        return rec


async def repeated_do(c: Check) -> None:
    saga_id = c.saga_id(1)
    first = await c.do(saga_id)
    if not c.expect(first.ok, f"the first Do was answered {first.code}, not OK"):
        return
    after_first = await c.records(saga_id)
    again = await c.do(saga_id)
    after = await c.records(saga_id)
    c.expect(again.reply == first.reply, f"the repeated Do answered {again.describe()}")
    c.expect(bool(after_first.effects), "the Do left no effect in the records")
    c.expect(
        after.effects == after_first.effects,
        f"the repeated Do changed the effects ({len(after_first.effects)} -> {len(after.effects)})",
    )
    c.expect(after.ops("do") == 1, f"{after.ops('do')} Do marks in the barrier, expected 1")


def _same_body(c: Check, saga_id: str) -> bool:
    first, other = (c.subject.request(saga_id, v).SerializeToString(deterministic=True)
                    for v in (0, 1))  # fmt: skip
    return first == other


async def conflicting_do(c: Check) -> None:
    saga_id = c.saga_id(1)
    if _same_body(c, saga_id):
        c.problems.append(
            f"the saga's sample gives one body for variants 0 and 1 at {c.subject.step}: "
            "cannot send another body (make the declaration's sample differ by variant)"
        )
        return
    first = await c.do(saga_id)
    if not c.expect(first.ok, f"the first Do was answered {first.code}, not OK"):
        return
    before = await c.records(saga_id)
    other = await c.do(saga_id, variant=1)
    after = await c.records(saga_id)
    c.expect(
        other.code in REFUSALS,
        f"a Do with another body for the same saga was answered {other.code}, not refused",
    )
    c.expect(after.effects == before.effects, "the Do with another body changed the effects")


async def repeated_compensate(c: Check) -> None:
    saga_id = c.saga_id(1)
    if not c.expect((await c.do(saga_id)).ok, "the Do before the Compensate failed"):
        return
    after_do = await c.records(saga_id)
    first = await c.compensate(saga_id)
    after_first = await c.records(saga_id)
    c.expect(first.ok, f"the Compensate was answered {first.code}, not OK")
    c.expect(after_first.effects != after_do.effects, "the Compensate undid nothing")
    again = await c.compensate(saga_id)
    after = await c.records(saga_id)
    c.expect(again.reply == first.reply, f"the repeated Compensate answered {again.describe()}")
    c.expect(
        after.effects == after_first.effects,
        f"the repeated Compensate changed the effects ({len(after_first.effects)} -> "
        f"{len(after.effects)})",
    )
    n = after.ops("compensate")
    c.expect(n == 1, f"{n} Compensate marks in the barrier, expected 1")


async def null_compensate(c: Check) -> None:
    saga_id = c.saga_id(1)
    out = await c.compensate(saga_id)
    rec = await c.records(saga_id)
    c.expect(out.ok, f"a Compensate with no Do was answered {out.code}, not OK")
    c.expect(rec.ops("compensate", "null") == 1, "the Compensate with no Do left no null mark")
    c.expect(not rec.effects, f"the Compensate with no Do left {len(rec.effects)} effects")


async def late_do(c: Check) -> None:
    saga_id = c.saga_id(1)
    await c.compensate(saga_id)
    late = await c.do(saga_id)
    rec = await c.records(saga_id)
    c.expect(late.code == "ABORTED", f"the Do after its Compensate was answered {late.code}")
    c.expect(not rec.effects, f"the late Do left {len(rec.effects)} effects")
    c.expect(rec.ops("do") == 0, "the late Do left a Do mark")


async def concurrent_do(c: Check) -> None:
    reference, saga_id = c.saga_id(1), c.saga_id(2)
    if not c.expect((await c.do(reference)).ok, "the reference Do failed"):
        return
    one = len((await c.records(reference)).effects)
    request = c.subject.request(saga_id)
    outs = await asyncio.gather(
        *(c.send(f"Do {saga_id} (call {i + 1} of {CONCURRENCY}, at once)", request)
          for i in range(CONCURRENCY))
    )  # fmt: skip
    rec = await c.records(saga_id)
    answers = {o.describe() for o in outs}
    c.expect(len(answers) == 1 and outs[0].ok, f"{len(answers)} different answers: {answers}")
    c.expect(rec.ops("do") == 1, f"{rec.ops('do')} Do marks in the barrier, expected 1")
    c.expect(
        len(rec.effects) == one,
        f"{CONCURRENCY} Do calls at once left {len(rec.effects)} effects; one Do leaves {one}",
    )


def _judge_race(c: Check, n: int, do: Outcome, comp: Outcome, rec: Records) -> None:
    c.expect(comp.ok, f"race {n}: the Compensate was answered {comp.code}, not OK")
    if rec.ops("compensate", "null"):
        c.expect(
            do.code == "ABORTED" and not rec.effects and not rec.ops("do"),
            f"race {n}: the Compensate came first (null mark), yet the Do was answered "
            f"{do.code} and {len(rec.effects)} effects remain",
        )
    elif rec.ops("compensate", "applied"):
        c.expect(do.ok and rec.ops("do") == 1, f"race {n}: the Compensate undid a Do that failed")
    else:
        c.problems.append(f"race {n}: no Compensate mark in the barrier")


async def racing_do_compensate(c: Check) -> None:
    for n in range(1, RACE_ROUNDS + 1):
        saga_id = c.saga_id(n)
        do, comp = await asyncio.gather(c.do(saga_id), c.compensate(saga_id))
        _judge_race(c, n, do, comp, await c.records(saga_id))


async def bad_input(c: Check) -> None:
    saga_id = c.saga_id(1)
    do_request: Callable[..., Message] = c.subject.saga.step(c.subject.step).participant.do_request
    sends = [
        ("Do with an empty saga_id", c.subject.request("")),
        ("Do with a blank saga_id", c.subject.request("   ")),
        ("Do with nothing but a saga_id", do_request(saga_id=saga_id)),
    ]
    outs = [(what, await c.send(what, request)) for what, request in sends]
    outs.append(("Compensate with an empty saga_id", await c.compensate("")))
    read = await c.subject.records_call("")
    c.note("read Records with an empty saga_id", read.describe())
    outs.append(("Records with an empty saga_id", read))
    for what, out in outs:
        c.expect(out.code == "INVALID_ARGUMENT", f"{what} was answered {out.code}")
    rec = await c.records(saga_id)
    c.expect(not rec.effects and not rec.barrier, "a refused Do left records behind")


class Unreachable(Exception):
    """The participant did not answer at all: no clause was run."""


@dataclass(frozen=True)
class Clause:
    name: str
    title: str
    run: Callable[[Check], Awaitable[None]]


CLAUSES: tuple[Clause, ...] = (
    Clause("repeated_do", "a repeated Do returns the first result, with one effect", repeated_do),
    Clause("conflicting_do", "a Do with another body for the same saga is refused", conflicting_do),
    Clause("repeated_compensate", "a Compensate undoes once; a repeat does nothing",
           repeated_compensate),
    Clause("null_compensate", "a Compensate before any Do leaves a null mark, no effect",
           null_compensate),
    Clause("late_do", "a Do after its Compensate is refused (ABORTED), no effect", late_do),
    Clause("concurrent_do", f"{CONCURRENCY} identical Do calls at once: one effect, one answer",
           concurrent_do),
    Clause("racing_do_compensate", "Do and Compensate at once leave one consistent outcome",
           racing_do_compensate),
    Clause("bad_input", "bad input gets INVALID_ARGUMENT, never UNKNOWN", bad_input),
)  # fmt: skip


async def _run(clause: Clause, subject: Subject, run: str, opened: list[str]) -> ClauseResult:
    check = Check(subject, run, clause.name, opened)
    started = time.monotonic()
    try:
        await clause.run(check)
    except RecordsUnreadable as exc:
        check.problems.append(f"the participant's Records could not be read: {exc}")
    except Exception as exc:  # a check that cannot run is a failed clause, with the reason
        check.problems.append(f"the check could not run: {exc!r}")
    seconds = time.monotonic() - started
    return ClauseResult(
        clause.name, clause.title, not check.problems, check.problems, check.evidence, seconds
    )


async def conform(addr: str, saga: SagaDeclaration, step: str, only: Sequence[str] = ()) -> Report:
    """Run the clauses (all, or those named in `only`) against the participant of `step` at
    `addr`; then compensate every saga the run opened."""
    subject = Subject(addr, saga, step)
    run, opened = secrets.token_hex(4), list[str]()
    started = time.monotonic()
    try:
        probe = await subject.records_call(f"conform-{run}-probe")
        if probe.code in NO_ANSWER:
            raise Unreachable(f"{addr} does not answer: {probe.describe()}")
        chosen = [c for c in CLAUSES if not only or c.name in only]
        results = [await _run(c, subject, run, opened) for c in chosen]
        for saga_id in opened:
            await subject.compensate(saga_id)
    finally:
        await subject.close()
    return Report(addr, saga.name, subject.step, results, time.monotonic() - started)
