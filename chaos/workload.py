"""Concurrent BookFlight clients that remember every answer they were given.

A client behaves like a careful user: it sends an idempotency key, and after an error whose
outcome it cannot know (UNAVAILABLE, DEADLINE_EXCEEDED) it comes back with the same key after
a growing pause. Every call's answer is recorded, to be checked against the final state.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc

from chaos.plan import BookingSpec
from flightsaga.v1 import orchestrator_pb2 as pb
from flightsaga.v1 import seat_pb2
from orchestrator.client import booking
from sagas.peers import Peers

# Flights are searched through the seat service's API (so a --target stack is explored like a
# client would), on one busy route and far enough ahead to be clear of demo bookings (tomorrow's)
# and of departures (the schedule rolls with the clock; a departed flight cannot be booked).
POOL_ROUTES = (("JFK", "LAX"), ("LAX", "JFK"))
POOL_DAYS_AHEAD = 30
SEATS_PER_FLIGHT_BUDGET = 90  # of an A321's 150 economy seats: room for holds in flight
# What a well-behaved client sends again with the same key: RESOURCE_EXHAUSTED is the
# orchestrator's admission limit (nothing was started), say after a restart that recovered many.
RETRYABLE = (
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
)


@dataclass
class CallRecord:
    """One BookFlight call and what it answered."""

    key: str  # the idempotency key sent
    phase: int
    attempt: int  # 0 for the first call with this key
    deadline_ms: int
    code: str  # "OK" or the gRPC status name
    saga_id: str = ""
    status: str = ""  # the saga's status in the reply
    booking_reference: str = ""
    replayed: bool = False
    at_s: float = 0.0
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def flight_ids(spec: BookingSpec, pool: list[str]) -> list[str]:
    return [pool[i % len(pool)] for i in spec.flights]


def pool_size(bookings: int) -> int:
    """Enough flights that completed bookings never fill one (about 2 seats per booking)."""
    return max(6, -(-bookings * 2 // SEATS_PER_FLIGHT_BUDGET))


async def flight_pool(peers: Peers, size: int) -> list[str]:
    pool: list[str] = []
    day = datetime.now(UTC).date() + timedelta(days=POOL_DAYS_AHEAD)
    last = day + timedelta(days=120)
    while len(pool) < size:
        for origin, destination in POOL_ROUTES:
            found = await peers.seat.SearchFlights(
                seat_pb2.SearchFlightsRequest(
                    origin=origin, destination=destination, date=day.isoformat()
                ),
                timeout=10,
            )
            pool += [leg.flight_id for leg in found.outbound]
        day += timedelta(days=1)
        if day > last and len(pool) < size:
            raise RuntimeError(f"only {len(pool)} flights found on the pool routes, {size} needed")
    return pool[:size]


@dataclass
class Workload:
    peers: Peers
    pool: list[str]
    run_id: str  # prefixes every key: a rerun against the same stack never replays
    client_timeout_s: float = 20.0
    concurrency: int = 16
    calls: list[CallRecord] = field(default_factory=list)
    specs: dict[str, BookingSpec] = field(default_factory=dict)  # by full key
    t0: float = field(default_factory=time.monotonic)

    def key(self, spec: BookingSpec) -> str:
        return f"chaos-{self.run_id}-{spec.key}"

    def request(self, spec: BookingSpec) -> pb.BookFlightRequest:
        return booking(
            flight_ids(spec, self.pool),
            passengers=[(f"Pax{i}", "Chaos") for i in range(spec.passengers)],
            customer_id=spec.account,
            points=spec.points,
            card_number=spec.card,
            card_expiry=(12, 2031),
        )

    async def book(self, spec: BookingSpec) -> None:
        """One booking: a first call, then the same key again while the outcome is unknown."""
        key = self.key(spec)
        self.specs[key] = spec
        request = self.request(spec)
        pause = 0.2
        for attempt in range(spec.retries + 1):
            hangup = attempt == 0 and spec.hangup_ms > 0
            deadline = spec.hangup_ms / 1000 if hangup else self.client_timeout_s
            md = [
                ("x-idempotency-key", key),
                ("x-correlation-id", f"{key}-{attempt}"),
            ]
            if spec.fail_at:
                md.append(("x-fail-at", spec.fail_at))
            if spec.fault:
                md.append(("x-fault", spec.fault))
            record = CallRecord(key, spec.phase, attempt, int(deadline * 1000), "OK")
            record.at_s = round(time.monotonic() - self.t0, 3)
            try:
                saga = await self.peers.orchestrator.BookFlight(
                    request, metadata=tuple(md), timeout=deadline
                )
            except grpc.aio.AioRpcError as exc:
                record.code = exc.code().name
                record.detail = (exc.details() or "")[:200]
                self.calls.append(record)
                if exc.code() not in RETRYABLE:
                    return
                await asyncio.sleep(pause)
                pause = min(pause * 2, 2.0)
                continue
            record.saga_id = saga.saga_id
            record.status = pb.SagaStatus.Name(saga.status)
            record.booking_reference = saga.booking_reference
            record.replayed = saga.replayed
            self.calls.append(record)
            return

    async def run(
        self,
        bookings: Iterator[BookingSpec],
        trigger_after: int | None,
        deadline_s: float | None,
        trigger: asyncio.Event,
    ) -> int:
        """Book until `bookings` runs out (or `deadline_s` of load); set `trigger` once
        `trigger_after` bookings started. Returns the number of bookings started."""
        start = time.monotonic()
        started = 0

        def next_spec() -> BookingSpec | None:
            nonlocal started
            if deadline_s is not None and time.monotonic() - start >= deadline_s:
                return None
            spec = next(bookings, None)
            if spec is None:
                return None
            started += 1
            if trigger_after is not None and started >= trigger_after:
                trigger.set()
            return spec

        await asyncio.gather(*(self._worker(next_spec) for _ in range(self.concurrency)))
        trigger.set()  # a phase with too few bookings still gets its disruption
        return started

    async def _worker(self, next_spec: Callable[[], BookingSpec | None]) -> None:
        while (spec := next_spec()) is not None:
            await self.book(spec)
