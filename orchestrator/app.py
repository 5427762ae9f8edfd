"""Builds the orchestrator's gRPC app: saga log, participant channels, runner, servicer."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from flightsaga.v1 import orchestrator_pb2, orchestrator_pb2_grpc
from orchestrator import booking_saga
from orchestrator.bookings_log import BookingsLog
from orchestrator.config import OrchestratorConfig
from orchestrator.engine.definition import RetryPolicy
from orchestrator.engine.observer import Observers
from orchestrator.engine.runner import RunnerSettings, SagaRunner
from orchestrator.engine.store import SagaStore
from orchestrator.servicer import OrchestratorServicer
from orchestrator.telemetry.counts import SagaCounts
from orchestrator.telemetry.metrics import SagaMetrics
from orchestrator.telemetry.tracing import SagaTracer, saga_trace_hex
from sagakit import logs
from sagakit import tracing as sagakit_tracing
from sagakit.config import ServiceConfig
from sagakit.faults import MAX_DELAY_MS
from sagakit.metrics import Metrics
from sagakit.server import GrpcApp

SERVICE_NAME = orchestrator_pb2.DESCRIPTOR.services_by_name["Orchestrator"].full_name


def build(service: ServiceConfig, environ: Mapping[str, str] | None = None) -> GrpcApp:
    """Same factory shape as every service; orchestrator-only settings come from the env."""
    config = OrchestratorConfig.from_env(environ)
    config = OrchestratorConfig(**{**config.__dict__, "service": service})
    return build_from(config)


def default_delay_ms(config: OrchestratorConfig) -> int:
    """A `delay` fault with no duration holds every Do attempt past the orchestrator's whole
    retry window (its time budget, never past the saga deadline, plus the errored attempts'
    timeouts), so the step is compensated and its Do arrives late, after the compensation."""
    window = min(config.step_retry_for, config.saga_timeout)
    window += config.step_timeout * (config.step_max_attempts + 2) + 3.0
    return min(int(window * 1000), MAX_DELAY_MS)


def build_from(config: OrchestratorConfig) -> GrpcApp:
    store = SagaStore(
        config.service.database_url,
        config.sqlite_synchronous,
        outbox=config.bookings_log is not None,
    )
    peers = booking_saga.Peers(
        config.seat_addr, config.loyalty_addr, config.payment_addr, config.booking_addr
    )
    definition = booking_saga.build(
        peers,
        config.step_timeout,
        RetryPolicy(
            max_attempts=config.step_max_attempts,
            base_delay=0.05,
            max_delay=1.0,
            retry_for=config.step_retry_for,
        ),
    )
    log_file = BookingsLog(config.bookings_log) if config.bookings_log else None
    counts = SagaCounts()
    metrics = Metrics("orchestrator")
    observers = Observers([counts])
    runner = SagaRunner(
        store,
        {definition.name: definition},
        RunnerSettings(
            saga_timeout=config.saga_timeout,
            compensation_retry=RetryPolicy(
                max_attempts=config.compensation_max_attempts,
                base_delay=0.1,
                max_delay=config.compensation_backoff_cap,
                retry_for=config.compensation_retry_for,
            ),
        ),
        sink=log_file,
        observer=observers,
    )
    observers.observers.append(SagaMetrics(metrics, counts, runner.active))
    tracing = sagakit_tracing.current()
    if tracing is not None:
        observers.observers.insert(0, SagaTracer(tracing.tracer))
        # Runner lines outside any span (between attempts) carry the saga's trace id too.
        logs.saga_trace_id = saga_trace_hex
    servicer = OrchestratorServicer(
        runner,
        peers,
        config.service.fault_injection,
        config.step_timeout,
        default_delay_ms(config),
        counts,
    )

    async def start() -> None:
        await store.open()
        # The one count of the saga log; from here on the counts follow the runner's moves.
        counts.seed(await store.stats())
        await runner.recover()

    async def stop() -> None:
        await runner.stop(grace=2.0)
        await peers.close()
        await store.close()
        if log_file is not None:
            await asyncio.to_thread(log_file.close)  # lines still queued are written first

    app = GrpcApp(
        name="orchestrator",
        services=[
            (
                SERVICE_NAME,
                lambda s: orchestrator_pb2_grpc.add_OrchestratorServicer_to_server(servicer, s),
            )
        ],
        on_start=[start],
        on_stop=[stop],
        metrics=metrics,
    )
    return app
