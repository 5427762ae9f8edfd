"""Builds the orchestrator's gRPC app: saga log, participant channels, runner, servicer."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable, Mapping
from functools import partial

import grpc

from flightsaga.v1 import orchestrator_pb2
from flightsaga.v1.orchestrator_pb2_grpc import add_OrchestratorServicer_to_server as add_servicer
from orchestrator import booking_saga, bulk_actions, from_declaration
from orchestrator.admission import Admission, logged_key
from orchestrator.admission_gate import AdmissionGate
from orchestrator.bookings_log import BookingsLog
from orchestrator.config import OrchestratorConfig
from orchestrator.doors import Doors, SagaDoor
from orchestrator.engine.bulk_jobs import BulkJobs
from orchestrator.engine.definition import RetryPolicy, SagaDefinition
from orchestrator.engine.observer import Observers
from orchestrator.engine.runner import RunnerSettings, SagaRunner
from orchestrator.engine.store import SagaStore
from orchestrator.servicer import OrchestratorServicer
from orchestrator.telemetry.counts import SHARED_REFRESH_S, SagaCounts, refresh_counts
from orchestrator.telemetry.metrics import SagaMetrics
from orchestrator.telemetry.tracing import SagaTracer, saga_trace_hex
from sagakit import logs, testhooks
from sagakit import tracing as sagakit_tracing
from sagakit.auth import BOOKER, OPERATOR, READER, TokenAuthInterceptor
from sagakit.config import ServiceConfig, is_postgres
from sagakit.metrics import Metrics
from sagakit.participant_faults import MAX_DELAY_MS
from sagakit.retention import Retention
from sagakit.server import GrpcApp
from sagas.peers import Peers
from sagas.registry import Registry

log = logging.getLogger("orchestrator")

SERVICE_NAME = orchestrator_pb2.DESCRIPTOR.services_by_name["Orchestrator"].full_name

# Who may call what when AUTH_TOKENS_FILE is set (docs/security.md#who-may-call-what). An
# operator may do everything; a booker reads and lists only its own sagas (the servicer).
ROLE_RULES: dict[str, tuple[str, ...]] = {
    "BookFlight": (BOOKER, OPERATOR),
    "StartBooking": (BOOKER, OPERATOR),
    "GetSaga": (READER, BOOKER, OPERATOR),
    "WatchSaga": (READER, BOOKER, OPERATOR),
    "ListSagas": (READER, BOOKER, OPERATOR),
    "GetStats": (READER, OPERATOR),
    "ResumeSaga": (OPERATOR,),
    "CancelSaga": (OPERATOR,),
    "StartSaga": (BOOKER, OPERATOR),
    "ListSagaTypes": (READER, BOOKER, OPERATOR),
    "StartBulkJob": (OPERATOR,),
    "GetBulkJob": (OPERATOR,),
    "StopBulkJob": (OPERATOR,),
    "ListBulkJobs": (OPERATOR,),
}
# Fault injection breaks bookings on purpose: operators only.
PRIVILEGED_METADATA: dict[str, tuple[str, ...]] = {"x-fail-at": (OPERATOR,), "x-fault": (OPERATOR,)}


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
    testhooks.arm(config.test_hooks)
    store = _saga_store(config)
    # The orchestrator's own certificate is its identity to the participants (mTLS); no bearer
    # token (participants know the orchestrator by it).
    peers = Peers(config.peer_addrs, tls=config.service.tls, token="")
    doors = _doors(config.sagas, peers, config.step_timeout)
    log_file = BookingsLog(config.bookings_log, doors) if config.bookings_log else None
    counts = SagaCounts(shared=store.shared)
    metrics = Metrics("orchestrator")
    runner = _observed_runner(config, store, _definitions(config, peers), log_file, counts, metrics)
    admission = Admission(config.max_in_flight, lambda: len(runner.driving()), logged_key(store))
    bulk = BulkJobs(
        store,
        bulk_actions.actions(runner),
        config.orchestrator_id,
        config.lease_ttl,
        busy=lambda: len(runner.driving()) >= config.max_driving,
        slots=admission,
    )
    servicer = OrchestratorServicer(
        runner,
        doors,
        config.service.fault_injection,
        default_delay_ms(config),
        counts,
        bulk,
        admission,
    )
    retention = Retention(
        "finished sagas", config.saga_retention, config.retention, _pruner(store, counts)
    )
    life = _Lifecycle(store, runner, counts, retention, peers, log_file, bulk)
    return GrpcApp(
        name="orchestrator",
        services=[(SERVICE_NAME, partial(add_servicer, servicer))],
        interceptors=_interceptors(config, admission),
        on_start=[life.start],
        on_stop=[life.stop],
        tls=config.service.tls,
        metrics=metrics,
    )


def _definitions(config: OrchestratorConfig, peers: Peers) -> list[SagaDefinition]:
    """The engine's definition of every declared saga, calling its participants via `peers`."""
    retry = _step_retry(config)
    return [
        from_declaration.build(d, peers, config.step_timeout, retry)
        for d in config.sagas.declarations
    ]


def _observed_runner(
    config: OrchestratorConfig,
    store: SagaStore,
    definitions: list[SagaDefinition],
    log_file: BookingsLog | None,
    counts: SagaCounts,
    metrics: Metrics,
) -> SagaRunner:
    """The runner, seen by the counts, the metrics and (when tracing is on) the tracer."""
    observers = Observers([counts])
    runner = SagaRunner(
        store, definitions, _runner_settings(config), sink=log_file, observer=observers
    )
    observers.observers.append(SagaMetrics(metrics, counts, runner.driving))
    tracing = sagakit_tracing.current()
    if tracing is not None:
        observers.observers.insert(0, SagaTracer(tracing.tracer))
        # Runner lines outside any span (between attempts) carry the saga's trace id too.
        logs.saga_trace_id = saga_trace_hex
    return runner


def _interceptors(
    config: OrchestratorConfig, admission: Admission
) -> list[grpc.aio.ServerInterceptor]:
    """Auth first: a caller without a valid token is told only that, whether full or not."""
    gate = AdmissionGate(admission, SERVICE_NAME)
    if config.tokens is None:
        return [gate]
    return [
        TokenAuthInterceptor(config.tokens, SERVICE_NAME, ROLE_RULES, PRIVILEGED_METADATA),
        gate,
    ]


def _doors(sagas: Registry, peers: Peers, step_timeout: float) -> Doors:
    """A door per served saga: the booking's own (flights, card), the generic one for others."""
    doors: dict[str, SagaDoor] = {}
    for name in sagas.names:
        versions = sagas.versions(name)
        doors[name] = (
            booking_saga.BookingDoor(versions, peers, step_timeout)
            if name == booking_saga.NAME
            else SagaDoor(versions)
        )
    return Doors(doors)


def _saga_store(config: OrchestratorConfig) -> SagaStore:
    return SagaStore(
        config.service.database_url,
        config.sqlite_synchronous,
        outbox=config.bookings_log is not None,
        # Replicas sharing a saga log each keep a bookings log file of their own: the outbox
        # rows a replica must reconcile are those of its file (on this host).
        sink_name=(
            f"{socket.gethostname()}:{config.bookings_log.resolve()}"
            if config.bookings_log is not None and is_postgres(config.service.database_url)
            else ""
        ),
        writer=config.orchestrator_id,
        hold_s=config.lease_ttl / 2,
    )


def _step_retry(config: OrchestratorConfig) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=config.step_max_attempts,
        base_delay=0.05,
        max_delay=1.0,
        retry_for=config.step_retry_for,
    )


def _runner_settings(config: OrchestratorConfig) -> RunnerSettings:
    return RunnerSettings(
        saga_timeout=config.saga_timeout,
        compensation_retry=RetryPolicy(
            max_attempts=config.compensation_max_attempts,
            base_delay=0.1,
            max_delay=config.compensation_backoff_cap,
            retry_for=config.compensation_retry_for,
        ),
        owner=config.orchestrator_id,
        lease_ttl=config.lease_ttl,
        lease_renew=config.lease_renew,
        max_driving=config.max_driving,
        call_horizon=config.retention.horizon,
    )


def _pruner(store: SagaStore, counts: SagaCounts) -> Callable[[str, int], Awaitable[int | None]]:
    """Retention's delete: finished sagas before `before`, at most `limit` of them."""

    async def prune(before: str, limit: int) -> int | None:
        done = await store.prune(before, limit)
        if done is None:
            return None
        if not counts.shared:  # counts kept in memory: the deleted sagas no longer count
            counts.counts.subtract(done.counts)
        if done.never_logged:
            log.warning(
                "[RETENTION] %d of the %d finished sagas deleted had never reached a bookings "
                "log (their outbox rows were still there)",
                done.never_logged,
                done.sagas,
            )
        # A full batch of either sagas or ended bulk jobs: more may be left, go on.
        return max(done.sagas, done.jobs)

    return prune


class _Lifecycle:
    """What the orchestrator starts once serving begins, and stops before it exits."""

    def __init__(
        self,
        store: SagaStore,
        runner: SagaRunner,
        counts: SagaCounts,
        retention: Retention,
        peers: Peers,
        log_file: BookingsLog | None,
        bulk: BulkJobs,
    ) -> None:
        self.bulk = bulk
        self.store = store
        self.runner = runner
        self.counts = counts
        self.retention = retention
        self.peers = peers
        self.log_file = log_file
        self.refresher: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self.store.open()
        # The counts from the log (saga_counts for the finished sagas, the others counted):
        # from here on they follow the runner's moves (on a log shared by replicas: read
        # again, at most once a second, and for each GetStats).
        self.counts.seed(await self.store.stats())
        self.counts.refreshed_at = asyncio.get_running_loop().time()
        # Serve at once: the sagas a crash left are claimed and driven in the background
        # (a few hundred at a time), not before the first request is answered.
        await self.runner.reopen()
        self.runner.recover_in_background()
        if self.counts.shared:
            self.refresher.append(asyncio.create_task(self._refresh_counts(), name="saga-counts"))
        self.retention.start()
        self.bulk.start()

    async def _refresh_counts(self) -> None:
        """The gauges of a shared log: its counts, read every SHARED_REFRESH_S."""
        while True:
            await asyncio.sleep(SHARED_REFRESH_S)
            try:
                await refresh_counts(self.store, self.counts)
            except Exception:
                log.warning("could not count the saga log for the gauges; trying again")

    async def stop(self) -> None:
        await self.bulk.stop()
        await self.retention.stop()
        for task in self.refresher:
            task.cancel()
        await self.runner.stop(grace=2.0)
        await self.peers.close()
        await self.store.close()
        if self.log_file is not None:
            await asyncio.to_thread(self.log_file.close)  # lines still queued are written first
