"""The orchestrator's saga metrics (prometheus_client), fed by the runner's observer hooks.

Gauges by state come from SagaCounts (kept as sagas move), read at scrape time: no query.
docker/prometheus/alerts.yml alerts on them (docs/observability.md#alerts).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection, Iterator
from datetime import datetime
from typing import Any, get_args

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


class RetryingCompensations:
    """When each compensation still retried here first failed, to tell how long the longest
    has been failing. A saga this process no longer drives (its lease went elsewhere, its
    driver stopped) is forgotten at the next look."""

    def __init__(self, driving: Callable[[], Collection[str]]) -> None:
        self.driving = driving
        # saga id -> step -> the start of its first failed attempt (time.monotonic)
        self.since: dict[str, dict[str, float]] = {}

    def failed(self, saga_id: str, step: str, began: float) -> None:
        self.since.setdefault(saga_id, {}).setdefault(step, began)

    def succeeded(self, saga_id: str, step: str) -> None:
        steps = self.since.get(saga_id)
        if steps is not None:
            steps.pop(step, None)
            if not steps:
                del self.since[saga_id]

    def forget(self, saga_id: str) -> None:
        self.since.pop(saga_id, None)

    def longest(self, now: float) -> float:
        """Seconds since the oldest first failure among them; 0 when none is retrying."""
        driving = self.driving()
        for saga_id in [s for s in self.since if s not in driving]:
            del self.since[saga_id]
        return max((now - t for s in self.since.values() for t in s.values()), default=0.0)


class _StateGauges(Collector):
    def __init__(self, counts: SagaCounts, retrying: RetryingCompensations) -> None:
        self.counts = counts
        self.retrying = retrying

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
            "flightsaga_sagas_active",
            "Sagas being driven by this process",
            value=len(self.retrying.driving()),
        )
        yield GaugeMetricFamily(
            "flightsaga_compensation_retrying_seconds",
            "How long the longest-failing compensation driven here has been retried: seconds "
            "since its first failed attempt (0: none is failing)",
            value=self.retrying.longest(time.monotonic()),
        )


class SagaMetrics(SagaObserver):
    def __init__(
        self, metrics: Metrics, counts: SagaCounts, driving: Callable[[], Collection[str]]
    ) -> None:
        """`driving`: the ids of the sagas this process drives now (SagaRunner.driving)."""
        r = metrics.registry
        self.retrying = RetryingCompensations(driving)
        r.register(_StateGauges(counts, self.retrying))
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
            "Sagas driven again from the log: recovered at start, adopted (a lease taken over "
            "from another replica), resumed by an operator",
            ["how"],
            registry=r,
        )
        # Every `how` from 0, so an alert's increase() sees a replica's first takeover too.
        for how in get_args(Resumed):
            self.resumed.labels(how)
        self.log_seconds = Histogram(
            "flightsaga_saga_log_commit_seconds",
            "One saga transition's write to the saga log, from queueing it to its commit "
            "(the wait for group commit included)",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )

    def saga_started(self, saga: SagaRecord) -> None:
        self.started.inc()

    def saga_resumed(self, saga: SagaRecord, how: Resumed) -> None:
        self.resumed.labels(how).inc()
        self.retrying.forget(saga.saga_id)  # a resume starts its compensations afresh

    def log_written(self, seconds: float) -> None:
        self.log_seconds.observe(seconds)

    def saga_changed(self, saga: SagaRecord, event: SagaEvent) -> None:
        if saga.terminal:
            self.retrying.forget(saga.saga_id)
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
            took = time.perf_counter() - began
            self.step_seconds.labels(call.step, call.op, outcome).observe(took)
            if call.op == "Compensate":
                self.compensations.labels(call.step, outcome).inc()
                self._track_compensation(call, failure, time.monotonic() - took)

    def _track_compensation(
        self, call: Attempt, failure: BaseException | None, began: float
    ) -> None:
        if failure is None:
            self.retrying.succeeded(call.saga.saga_id, call.step)
        elif not isinstance(failure, asyncio.CancelledError):  # stopped, not failed
            self.retrying.failed(call.saga.saga_id, call.step, began)
