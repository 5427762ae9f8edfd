"""`bench scale`'s ListSagas filter rows: one first page per SagaFilter field, by log size.

The seeded log is shaped so that every filter finds something: a customer every CUSTOMER_SPAN
sagas, a flight every FLIGHT_SPAN, one saga in FAILURE_EVERY copied from a real compensated
saga (failed at payment or loyalty). Each filter's `total` is printed with its latency: a
filter whose matches grow with the log (its count reads them all) shows it there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from flightsaga.v1 import orchestrator_pb2 as pb

CUSTOMER_SPAN = 50  # consecutive sagas per customer
FLIGHT_SPAN = 100  # consecutive sagas per flight
FAILURE_EVERY = 100  # one saga in this many is a compensated one
WINDOW = timedelta(hours=1)  # the created_after/created_before filter's width


@dataclass
class Shape:
    """Which template seeded saga number `i` copies, and its own customer and flight."""

    completed: list[Any]
    failed: list[Any]  # compensated templates; may be empty (an older tree's run)
    has_filters: bool  # the log has the filter columns and saga_flights (migration 0006)

    def template(self, i: int) -> Any:
        if self.failed and i % FAILURE_EVERY == FAILURE_EVERY - 1:
            return self.failed[(i // FAILURE_EVERY) % len(self.failed)]
        return self.completed[i % len(self.completed)]

    def saga_changes(self, i: int) -> dict[str, Any]:
        base: dict[str, Any] = {"idempotency_key": None}
        return {**base, "customer_id": customer_of(i)} if self.has_filters else base

    def flight_rows(self, i: int, saga_id: str, created_at: str) -> list[tuple[str, str, str]]:
        return [(flight_of(i), created_at, saga_id)] if self.has_filters else []


def customer_of(i: int) -> str:
    return f"LOY-S{i // CUSTOMER_SPAN:07d}"


def flight_of(i: int) -> str:
    return f"FSB{i // FLIGHT_SPAN:06d}-20261208"


def _at(iso: str) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(datetime.fromisoformat(iso))
    return ts


def filters(shape: Shape, middle: int, middle_at: str) -> dict[str, pb.SagaFilter]:
    """The measured filters, each on what saga number `middle` (created at `middle_at`) has."""
    failed = shape.failed[0].rows["sagas"][0] if shape.failed else {}
    until = (datetime.fromisoformat(middle_at) + WINDOW).isoformat()
    return {
        "status": pb.SagaFilter(statuses=[pb.FAILED, pb.COMPENSATED]),
        "customer": pb.SagaFilter(customer_id=customer_of(middle)),
        "flight": pb.SagaFilter(flight_id=flight_of(middle)),
        "step": pb.SagaFilter(step=failed.get("failed_step") or "payment"),
        "reason": pb.SagaFilter(error_reason=failed.get("error_reason") or "FAULT_INJECTED"),
        "created": pb.SagaFilter(created_after=_at(middle_at), created_before=_at(until)),
        "saga": pb.SagaFilter(saga="book_flight"),
        "customer+status": pb.SagaFilter(
            customer_id=customer_of(middle), statuses=[pb.COMPLETED, pb.COMPENSATED]
        ),
    }


Timed = Callable[[int, Callable[[int], Any]], Any]


async def measure_filters(
    stub: Any, timed: Timed, wanted: dict[str, pb.SagaFilter], calls: int
) -> dict[str, dict[str, float]]:
    """Per filter: the first page of 20, `calls` times one at a time (p50, p95 ms), and the
    number of sagas it matched."""
    out: dict[str, dict[str, float]] = {}
    for name, f in wanted.items():
        req = pb.ListSagasRequest(page_size=20, filter=f)
        first = await stub.ListSagas(req, timeout=30)
        if not first.sagas:
            raise AssertionError(f"filter {name} found no saga: {f}")

        async def page(_: int, req: pb.ListSagasRequest = req) -> None:
            await stub.ListSagas(req, timeout=30)

        out[name] = {**await timed(calls, page), "total": first.total}
    return out
