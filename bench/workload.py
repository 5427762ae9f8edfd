"""What the benchmark sends: flights to book, and one operation per booking.

Each operation performs one booking and checks that it ended exactly as expected; anything else
is reported as a problem (an RPC error, or an unexpected status / shape of the reply). The modes
are Workload's.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, date, datetime, timedelta

import grpc

from flightsaga.v1 import (
    booking_pb2,
    common_pb2,
    loyalty_pb2,
    orchestrator_pb2,
    orchestrator_pb2_grpc,
    payment_pb2,
    seat_pb2,
)
from orchestrator.client import booking
from sagakit import context
from sagakit.config import TlsConfig
from sagas.booking import STEP_ORDER, declaration
from sagas.peers import Addrs, Peers

# The schedule's routes (seat_service.schedule): searched, not imported, so a --target stack is
# explored through its API like any client would. Its window rolls with the clock (flights to
# 180 days ahead; a departed one cannot be booked): the bench picks days from tomorrow on.
FIRST_DAY_AHEAD = 1
LAST_DAY_AHEAD = 120
ROUTES = (
    ("JFK", "LAX"),
    ("LAX", "JFK"),
    ("JFK", "SFO"),
    ("SFO", "JFK"),
    ("JFK", "LHR"),
    ("LHR", "JFK"),
    ("SEA", "DEN"),
    ("DEN", "SEA"),
    ("SFO", "LAX"),
    ("LAX", "SFO"),
)
ACCOUNT = "LOY-1004"  # 250,000 points in the seed data
POINTS = 10  # per booking: cheap enough for many runs against one stack
CARD = "4242424242424242"  # always approved
CALL_TIMEOUT = 10.0
SAGA_TIMEOUT = 60.0
RELAY = "relay"
RELAY_SYNC = "relay-sync"  # the relay on grpcio's synchronous server and channels
# The modules serving each relay mode (a process of its own beside a local stack).
RELAYS = {RELAY: "bench.relay", RELAY_SYNC: "bench.sync_relay"}
# The default modes (the relay, the yardstick of the orchestrator's CPU, on a local stack only).
MODES = ("raw", "saga", "failure", "mix", RELAY)
ALL_MODES = (*MODES, RELAY_SYNC)  # every mode --modes accepts


class Problem(Exception):
    """A booking that did not end as expected (the message says how)."""


def open_peers(addrs: Addrs) -> Peers:
    """One channel and stub per service, shared by every concurrent booking: plaintext, no
    token, the kit's channel options: round_robin, so an orchestrator target naming several
    replicas gets the load spread (and a reconnect backoff capped at a second)."""
    return Peers(addrs.as_dict(), tls=TlsConfig(), token="")


class FlightPool:
    """Flights with free economy seats, handed out round-robin so no flight sells out."""

    def __init__(self, seats: dict[str, int], margin: int = 2) -> None:
        self._left = {f: n - margin for f, n in seats.items() if n > margin}
        self._cycle = itertools.cycle(sorted(self._left))
        if not self._left:
            raise RuntimeError("no flight with free seats was found")

    def __len__(self) -> int:
        return len(self._left)

    def sample(self, seats: int, seed: int) -> FlightPool:
        """A random subset of the flights with at least 3x `seats` free seats in all."""
        rng = random.Random(seed)
        flights = sorted(self._left)
        rng.shuffle(flights)
        picked: dict[str, int] = {}
        for f in flights:
            if sum(picked.values()) >= 3 * seats:
                break
            picked[f] = self._left[f]
        if sum(picked.values()) < seats:
            raise RuntimeError(f"only {sum(picked.values())} free seats found, {seats} needed")
        return FlightPool(picked, margin=0)

    def take(self) -> str:
        for _ in range(len(self._left)):
            flight = next(self._cycle)
            if self._left[flight] > 0:
                self._left[flight] -= 1
                return flight
        raise RuntimeError("every flight in the pool is full: run fewer bookings")


async def collect_flights(
    peers: Peers, dates: int = 24, parallel: int = 8, seed: int = 7
) -> FlightPool:
    """SearchFlights over every route on `dates` days spread over the next four months."""
    first = datetime.now(UTC).date() + timedelta(days=FIRST_DAY_AHEAD)
    days = LAST_DAY_AHEAD - FIRST_DAY_AHEAD + 1
    rng = random.Random(seed)
    picked = sorted(rng.sample(range(days), min(dates, days)))
    queries = [(o, d, first + timedelta(days=i)) for i in picked for o, d in ROUTES]
    seats: dict[str, int] = {}
    gate = asyncio.Semaphore(parallel)

    async def search(origin: str, destination: str, day: date) -> None:
        async with gate:
            reply = await peers.seat.SearchFlights(
                seat_pb2.SearchFlightsRequest(
                    origin=origin,
                    destination=destination,
                    date=day.isoformat(),
                    cabin_class=common_pb2.ECONOMY,
                    passengers=1,
                ),
                timeout=CALL_TIMEOUT,
            )
        for leg in reply.outbound:
            seats[leg.flight_id] = leg.seats_available

    await asyncio.gather(*(search(*q) for q in queries))
    return FlightPool(seats)


Operation = Callable[[int], Awaitable[None]]


def _md(fail_at: str = "") -> tuple[tuple[str, str], ...]:
    md = [(context.CORRELATION_HEADER, context.new_correlation_id())]
    if fail_at:
        md.append(("x-fail-at", fail_at))
    return tuple(md)


def _expect(cond: bool, what: str) -> None:
    if not cond:
        raise Problem(what)


class Workload:
    """One operation per mode.

    - saga: BookFlight through the orchestrator, expected COMPLETED with a booking reference.
    - raw: the four participants' Do called directly in sequence with a fresh saga id: no
      orchestrator, no saga log (the floor for this design on this machine).
    - failure: BookFlight with x-fail-at confirm_booking, expected COMPENSATED after three
      compensations (payment, loyalty, seat).
    - mix: 80% plain bookings, 20% x-fail-at a random step, each checked for its own outcome.
    - relay: BookFlight as in saga, sent to bench.relay instead of the orchestrator: a server making
      only the orchestrator's gRPC calls (Tokenize and the four Do), no saga log (the CPU floor of
      an orchestrator). Only beside a local stack.
    - relay-sync: the same to bench.sync_relay (grpcio's synchronous server). Not a default."""

    def __init__(
        self,
        peers: Peers,
        flights: FlightPool,
        seed: int = 11,
        relays: dict[str, orchestrator_pb2_grpc.OrchestratorStub] | None = None,
    ) -> None:
        self.peers = peers
        self.flights = flights
        self._rng = random.Random(seed)
        self.relays = relays or {}  # each running relay's BookFlight, by its mode

    def request(self) -> orchestrator_pb2.BookFlightRequest:
        return booking(
            flight_ids=[self.flights.take()],
            passengers=[("Bench", "Mark")],
            customer_id=ACCOUNT,
            points=POINTS,
            card_number=CARD,
        )

    # ---- through the orchestrator -------------------------------------------------------

    async def book(
        self, fail_at: str = "", via: orchestrator_pb2_grpc.OrchestratorStub | None = None
    ) -> None:
        """One BookFlight, to the orchestrator (or `via`: the relay), its reply checked."""
        stub = self.peers.orchestrator if via is None else via
        saga: orchestrator_pb2.Saga = await stub.BookFlight(
            self.request(), metadata=_md(fail_at), timeout=SAGA_TIMEOUT
        )
        status = orchestrator_pb2.SagaStatus.Name(saga.status)
        steps = [(s.name, orchestrator_pb2.StepState.Name(s.state)) for s in saga.steps]
        _expect(not saga.replayed, f"saga {saga.saga_id} replied as a replay")
        _expect([n for n, _ in steps] == list(STEP_ORDER), f"steps {steps}")
        if not fail_at:
            _expect(status == "COMPLETED", f"status {status}, expected COMPLETED: {saga.error}")
            _expect(bool(saga.booking_reference), "COMPLETED without a booking reference")
            _expect(all(s == "SUCCEEDED" for _, s in steps), f"step states {steps}")
            return
        k = STEP_ORDER.index(fail_at)
        expected_order = list(reversed(STEP_ORDER[:k]))
        _expect(status == "COMPENSATED", f"status {status}, expected COMPENSATED: {saga.error}")
        _expect(
            list(saga.compensation_order) == expected_order,
            f"compensated {list(saga.compensation_order)}, expected {expected_order}",
        )
        _expect(steps[k][1] == "STEP_FAILED", f"{fail_at} is {steps[k][1]}, not STEP_FAILED")
        _expect(not saga.booking_reference, "COMPENSATED saga has a booking reference")

    # ---- the raw chain ------------------------------------------------------------------

    async def raw_chain(self) -> None:
        """The four Do calls in sequence, built by the saga's own request builders."""
        req = self.request()
        saga_id = uuid.uuid4().hex
        md = _md()
        p = self.peers
        seats: seat_pb2.ReserveSeatsResponse = await p.seat.Do(
            declaration.seat_request(saga_id, req), metadata=md, timeout=CALL_TIMEOUT
        )
        _expect(len(seats.seats) == 1 and seats.fare_cents > 0, f"seat reply {seats}")
        points: loyalty_pb2.DeductPointsResponse = await p.loyalty.Do(
            declaration.points_request(saga_id, req, seats), metadata=md, timeout=CALL_TIMEOUT
        )
        _expect(points.points_deducted == req.loyalty_points, f"loyalty reply {points}")
        charge: payment_pb2.ChargeResponse = await p.payment.Do(
            declaration.charge_request(saga_id, req, seats, points),
            metadata=md,
            timeout=CALL_TIMEOUT,
        )
        _expect(bool(charge.transaction_id), f"payment reply {charge}")
        confirmed: booking_pb2.ConfirmBookingResponse = await p.booking.Do(
            declaration.confirm_request(saga_id, req, seats, points, charge),
            metadata=md,
            timeout=CALL_TIMEOUT,
        )
        _expect(bool(confirmed.booking_reference), f"booking reply {confirmed}")

    # ---- operations by mode -------------------------------------------------------------

    def mix_plan(self, n: int) -> list[str]:
        """80% plain bookings, 20% failing at a random step; fixed by the seed."""
        return [self._rng.choice(STEP_ORDER) if self._rng.random() < 0.2 else "" for _ in range(n)]

    def operation(self, mode: str, n: int) -> Operation:
        if mode == "raw":
            return lambda _: self.raw_chain()
        if mode == "saga":
            return lambda _: self.book()
        if mode == "failure":
            return lambda _: self.book(fail_at=STEP_ORDER[-1])
        if mode == "mix":
            plan = self.mix_plan(n)
            return lambda i: self.book(fail_at=plan[i])
        if mode in RELAYS:
            relay = self.relays.get(mode)
            if relay is None:
                raise ValueError(f"the {mode} mode needs a running {RELAYS[mode]} (a local stack)")
            return lambda _: self.book(via=relay)
        raise ValueError(f"unknown mode {mode!r} (one of {', '.join(ALL_MODES)})")


def describe(exc: BaseException) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details()}"
    return f"{type(exc).__name__}: {exc}"


def check_modes(modes: Sequence[str]) -> list[str]:
    bad = [m for m in modes if m not in ALL_MODES]
    if bad:
        raise ValueError(f"unknown mode(s) {', '.join(bad)}: choose from {', '.join(ALL_MODES)}")
    return list(modes)
