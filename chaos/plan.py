"""The campaign's schedule: which phases run in which order, and every booking each one makes.

Everything here follows from the seed alone (no clock, no I/O), so a run can be repeated and
its schedule unit-tested. The flight ids themselves are looked up at run time (`pool` indexes).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from sagas.booking import BOOK_FLIGHT
from sagas.services import ORCHESTRATOR
from sagas.services import PARTICIPANTS as _PARTICIPANTS

PARTICIPANTS = tuple(p.name for p in _PARTICIPANTS)  # seat, loyalty, payment, booking
SERVICES = (*PARTICIPANTS, ORCHESTRATOR.name)
STEPS = tuple(s.aliases[0] for s in BOOK_FLIGHT.steps)  # saga order, by alias

# Phase kinds. The first two need no process control, so they also run against --target.
FAULTS = "faults"
HANGUPS = "hangups"
KILL = "kill"
SIGSTOP = "sigstop"
BLACKOUT = "blackout"
LONG_OUTAGE = "long-outage"
PARTICIPANT_OUTAGE = "participant-outage"
PHASE_KINDS = (FAULTS, HANGUPS, KILL, SIGSTOP, BLACKOUT, LONG_OUTAGE, PARTICIPANT_OUTAGE)
NEEDS_PROCESSES = frozenset({KILL, SIGSTOP, BLACKOUT, LONG_OUTAGE, PARTICIPANT_OUTAGE})

# Expected outcome of a booking on a healthy system, from what was injected.
COMPLETED, COMPENSATED, FAILED = "COMPLETED", "COMPENSATED", "FAILED"

GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"
# Accounts with points to spare: a completed saga spends at most 25 points.
ACCOUNTS = (("LOY-1004", 0.8), ("LOY-1001", 0.2))


@dataclass(frozen=True)
class Settings:
    """What shapes the schedule (command-line flags)."""

    seed: int = 1
    sagas: int = 600  # total bookings; ignored when `duration` is set
    duration: float = 0.0  # seconds of load in all (split over phases); 0 = count-bounded
    kills: int = 12  # kill -9 in all; at least the mandatory phases' count
    step_timeout_s: float = 1.0  # STEP_TIMEOUT_MS of the stack, for SIGSTOP and delays
    saga_timeout_s: float = 10.0  # SAGA_TIMEOUT_S of the stack, for the long outage
    processes: bool = True  # False against --target: only phases that kill nothing


@dataclass(frozen=True)
class BookingSpec:
    """One booking a client makes: its request shape, its faults, and how the client behaves."""

    key: str  # idempotency key suffix (the run prefixes it, so reruns never replay)
    phase: int
    flights: tuple[int, ...]  # indexes into the flight pool, one per leg
    passengers: int
    account: str
    points: int
    card: str
    fail_at: str  # x-fail-at header value, "" for none
    fault: str  # x-fault header value, "" for none
    expect: str  # COMPLETED / COMPENSATED / FAILED (compensation fails until resumed)
    hangup_ms: int = 0  # > 0: the first call's deadline, in ms (a client that hangs up early)
    retries: int = 6  # calls with the same key after an error (UNAVAILABLE, deadline)

    @property
    def injected(self) -> bool:
        """Something was injected that makes the saga compensate (or fail) on its own."""
        return self.expect != COMPLETED


@dataclass(frozen=True)
class Phase:
    index: int
    kind: str
    target: str = ""  # the service a kill / SIGSTOP / outage hits
    outage_s: float = 0.0  # how long the target stays down or stopped
    trigger: float = 0.4  # the disruption comes after this fraction of the phase's load
    bookings: tuple[BookingSpec, ...] = ()  # count-bounded runs
    seconds: float = 0.0  # time-bounded runs: seconds of load (bookings from `nth_booking`)

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.target}" if self.target else self.kind

    @property
    def label(self) -> str:
        """The phase's name with its place in the run: names repeat (two kills of one service)."""
        return f"{self.index + 1}:{self.name}"

    @property
    def kills(self) -> int:
        if self.kind == BLACKOUT:
            return len(SERVICES)
        return 1 if self.kind in (KILL, LONG_OUTAGE, PARTICIPANT_OUTAGE) else 0


@dataclass(frozen=True)
class Plan:
    settings: Settings
    phases: tuple[Phase, ...]
    skipped: tuple[str, ...] = field(default=())  # phase kinds not run, and why

    @property
    def kills(self) -> int:
        return sum(p.kills for p in self.phases)

    @property
    def bookings(self) -> int:
        return sum(len(p.bookings) for p in self.phases)


def _fault_mix(rng: random.Random) -> tuple[str, str, str, str]:
    """(card, x-fail-at, x-fault, expected outcome) for one booking of ordinary load."""
    roll = rng.random()
    step = rng.choice(STEPS)
    if roll < 0.40:
        return GOOD_CARD, "", "", COMPLETED
    if roll < 0.50:
        return GOOD_CARD, step, "", COMPENSATED
    if roll < 0.60:
        return GOOD_CARD, "", f"{step}:transient={rng.randint(1, 2)}", COMPLETED
    if roll < 0.70:
        return GOOD_CARD, "", f"{step}:lost-reply", COMPLETED
    if roll < 0.74:
        return GOOD_CARD, "", f"{step}:delay", COMPENSATED  # default: past every attempt
    if roll < 0.84:
        # A compensation that fails a few times, on a step before the failing one.
        late = rng.randint(1, 3)
        early = rng.randrange(late)
        n = rng.randint(1, 2)
        return GOOD_CARD, STEPS[late], f"{STEPS[early]}:compensate-fail={n}", COMPENSATED
    if roll < 0.86:
        late = rng.randint(1, 3)
        early = rng.randrange(late)
        return GOOD_CARD, STEPS[late], f"{STEPS[early]}:compensate-fail=always", FAILED
    if roll < 0.89:
        return DECLINED_CARD, "", "", COMPENSATED  # a business failure nobody injected
    # Several faults at once, all survivable.
    a, b = rng.sample(STEPS, 2)
    return GOOD_CARD, "", f"{a}:transient=1,{b}:lost-reply", COMPLETED


def make_booking(
    rng: random.Random, phase: int, n: int, kind: str, settings: Settings
) -> BookingSpec:
    """The n-th booking of a phase; its shape depends on the phase kind."""
    legs = 2 if rng.random() < 0.25 else 1
    first = rng.randrange(1 << 20)
    flights = tuple(first + i for i in range(legs))
    passengers = rng.choice((1, 1, 1, 2, 3))
    account = rng.choices([a for a, _ in ACCOUNTS], weights=[w for _, w in ACCOUNTS])[0]
    points = rng.randint(1, 25) if rng.random() < 0.4 else 0
    card, fail_at, fault, expect = _fault_mix(rng)
    hangup_ms = 0
    retries = 6  # with pauses of 0.2 s doubling to 2 s: about 8 s of trying
    if kind == LONG_OUTAGE:
        # A step held under its deadline: on a healthy system the saga completes; the
        # orchestrator is killed while these are inside the step and stays down past the
        # saga deadline, so every one of them must be compensated exactly (or complete).
        delay_ms = int(settings.step_timeout_s * 1000 * rng.uniform(0.5, 0.8))
        card, fail_at, fault, expect = (
            GOOD_CARD,
            "",
            f"{rng.choice(STEPS)}:delay={delay_ms}",
            COMPLETED,
        )
    elif kind == HANGUPS:
        hangup_ms = rng.randint(1, 40)
        retries = 1 if rng.random() < 0.5 else 0  # half of them come back with the same key
    elif rng.random() < 0.05:
        hangup_ms = rng.randint(1, 40)  # a few early hang-ups in every phase
        retries = 1
    return BookingSpec(
        key=f"{phase:02d}-{n:06d}",
        phase=phase,
        flights=flights,
        passengers=passengers,
        account=account,
        points=points,
        card=card,
        fail_at=fail_at,
        fault=fault,
        expect=expect,
        hangup_ms=hangup_ms,
        retries=retries,
    )


def nth_booking(settings: Settings, phase: int, kind: str, n: int) -> BookingSpec:
    """Booking n of a phase. Each has its own generator seeded from (seed, phase, n), so a
    time-bounded phase draws the same bookings in the same order as a count-bounded one."""
    rng = random.Random(f"{settings.seed}/{phase}/{n}")
    return make_booking(rng, phase, n, kind, settings)


def _kinds(settings: Settings, rng: random.Random) -> list[tuple[str, str]]:
    """(kind, target) of every phase: one of each, one kill of every service, extra kills."""
    kinds: list[tuple[str, str]] = [(FAULTS, ""), (HANGUPS, "")]
    if settings.processes:
        kinds += [(KILL, s) for s in SERVICES]
        kinds += [
            (SIGSTOP, rng.choice(PARTICIPANTS)),
            (BLACKOUT, ""),
            (LONG_OUTAGE, "orchestrator"),
            (PARTICIPANT_OUTAGE, rng.choice(PARTICIPANTS)),
        ]
        mandatory = len(SERVICES) * 2 + 2
        kinds += [(KILL, rng.choice(SERVICES)) for _ in range(max(0, settings.kills - mandatory))]
    rng.shuffle(kinds)
    return kinds


def minimum_kills() -> int:
    """kill -9s of the mandatory phases: one per service, a blackout, two outages."""
    return len(SERVICES) * 2 + 2


def build(settings: Settings) -> Plan:
    """The whole schedule from the seed."""
    rng = random.Random(settings.seed)
    kinds = _kinds(settings, rng)
    phases: list[Phase] = []
    per_phase, extra = divmod(settings.sagas, len(kinds))
    seconds = settings.duration / len(kinds) if settings.duration else 0.0
    for i, (kind, target) in enumerate(kinds):
        outage = 0.0
        if kind == SIGSTOP:
            outage = settings.step_timeout_s * 2 + 0.5  # past the step deadline, twice
        elif kind == PARTICIPANT_OUTAGE:
            outage = round(rng.uniform(1.0, 5.0), 2)
        elif kind == LONG_OUTAGE:
            outage = settings.saga_timeout_s + 3.0
        trigger = round(rng.uniform(0.25, 0.6), 2)
        bookings: tuple[BookingSpec, ...] = ()
        if not settings.duration:
            n = per_phase + (1 if i < extra else 0)
            bookings = tuple(nth_booking(settings, i, kind, j) for j in range(n))
        phases.append(
            Phase(
                index=i,
                kind=kind,
                target=target,
                outage_s=outage,
                trigger=trigger,
                bookings=bookings,
                seconds=seconds,
            )
        )
    skipped: tuple[str, ...] = ()
    if not settings.processes:
        skipped = tuple(
            f"{k}: needs processes this campaign started (it only kills its own, by pid); "
            "against --target it cannot"
            for k in PHASE_KINDS
            if k in NEEDS_PROCESSES
        )
    return Plan(settings, tuple(phases), skipped)
