"""The orchestrator's saga metrics (prometheus_client), fed by the runner's observer hooks.

Gauges by state come from SagaCounts (kept as sagas move), read at scrape time: no query.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from typing import Any

import grpc
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from orchestrator.engine.model import ENDINGS, SagaEvent, SagaRecord, SagaStatus
from orchestrator.engine.observer import Attempt, Resumed, SagaObserver
from orchestrator.participant_calls import underlying
from orchestrator.telemetry.counts import SagaCounts
from sagakit.metrics import LATENCY_BUCKETS, Metrics

SAGA_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


def outcome_of(exc: BaseException | None) -> str:
    """A call's outcome as a label: OK, the gRPC status code's name, or what ended it."""
    if exc is None:
        return "OK"
    exc = underlying(exc)
    if isinstance(exc, grpc.aio.AioRpcError):
        return str(exc.code().name)
    if isinstance(exc, TimeoutError | asyncio.CancelledError):
        return "DEADLINE_EXCEEDED" if isinstance(exc, TimeoutError) else "CANCELLED"
    return "ERROR"


def _seconds(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


class _StateGauges(Collector):
    def __init__(self, counts: SagaCounts, active: Callable[[], int]) -> None:
        self.counts = counts
        self.active = active

    def collect(self) -> Iterator[Metric]:
        sagas = GaugeMetricFamily(
            "flightsaga_sagas",
            "Sagas by state; FAILED ones need an operator (ResumeSaga)",
            labels=["status"],
        )
        for s in SagaStatus:
            sagas.add_metric([s.value], self.counts.get(s.value))
        yield sagas
        yield GaugeMetricFamily(
            "flightsaga_compensations_pending",
            "Compensations queued on live or FAILED sagas",
            value=self.counts.get("compensations_pending"),
        )
        yield GaugeMetricFamily(
            "flightsaga_sagas_active", "Sagas being driven by this process", value=self.active()
        )


class SagaMetrics(SagaObserver):
    def __init__(self, metrics: Metrics, counts: SagaCounts, active: Callable[[], int]) -> None:
        r = metrics.registry
        r.register(_StateGauges(counts, active))
        self.started = Counter("flightsaga_sagas_started", "Sagas started", registry=r)
        self.duration = Histogram(
            "flightsaga_saga_duration_seconds",
            "Time from a saga's start to its end, by outcome (COMPLETED, COMPENSATED, FAILED)",
            ["outcome"],
            buckets=SAGA_BUCKETS,
            registry=r,
        )
        self.step_seconds = Histogram(
            "flightsaga_step_attempt_seconds",
            "One participant call of a saga (a Do or a Compensate attempt), by step, op and "
            "outcome (OK or the gRPC status code)",
            ["step", "op", "outcome"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.retries = Counter(
            "flightsaga_step_retries",
            "Attempts after a step's first (Do) or a compensation's first (Compensate)",
            ["step", "op"],
            registry=r,
        )
        self.compensations = Counter(
            "flightsaga_compensations",
            "Compensate calls, by step and outcome (OK or the gRPC status code)",
            ["step", "outcome"],
            registry=r,
        )
        self.resumed = Counter(
            "flightsaga_sagas_resumed",
            "Sagas driven again from the log: recovered at start, adopted, resumed by an operator",
            ["how"],
            registry=r,
        )

    def saga_started(self, saga: SagaRecord) -> None:
        self.started.inc()

    def saga_resumed(self, saga: SagaRecord, how: Resumed) -> None:
        self.resumed.labels(how).inc()

    def saga_changed(self, saga: SagaRecord, event: SagaEvent) -> None:
        if event.type in ENDINGS:
            took = _seconds(saga.created_at, saga.finished_at)
            if took is not None:
                self.duration.labels(saga.status.value).observe(max(0.0, took))

    async def attempt(self, call: Attempt, run: Awaitable[Any]) -> Any:
        if call.attempt > 1:
            self.retries.labels(call.step, call.op).inc()
        began = time.perf_counter()
        failure: BaseException | None = None
        try:
            return await run
        except BaseException as exc:
            failure = exc
            raise
        finally:
            outcome = outcome_of(failure)
            self.step_seconds.labels(call.step, call.op, outcome).observe(
                time.perf_counter() - began
            )
            if call.op == "Compensate":
                self.compensations.labels(call.step, outcome).inc()
