"""Starting a saga from an HTTP request and answering at once with its saga id.

A client retrying the POST with the same key gets the same saga, never a second booking. The
saga itself runs in the orchestrator and goes on if the dashboard stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging

from dashboard.jsonview import TERMINAL
from dashboard.peers import Peers
from dashboard.validation import BookingPlan, SagaPlan
from flightsaga.v1 import orchestrator_pb2
from sagakit import context
from sagakit.plainjson import plain

log = logging.getLogger("dashboard.booking")


class SagaStarter:
    """Starts sagas for the dashboard's HTTP API and logs their outcomes.

    The dashboard generates the booking's request id (the idempotency key) and correlation id and
    calls StartBooking, which logs the saga and answers at once with its record (usually
    RUNNING): that is the HTTP answer, or the orchestrator's refusal (INVALID_ARGUMENT, …) is. A
    saga of any other served kind is started the same way with StartSaga (its input as JSON). A
    background task follows the saga with WatchSaga only to log its outcome."""

    def __init__(self, peers: Peers) -> None:
        self.peers = peers
        self._background: set[asyncio.Task[None]] = set()

    async def start(self, plan: BookingPlan) -> orchestrator_pb2.Saga:
        """Start the saga; return its record as StartBooking gave it (maybe still RUNNING)."""
        config = self.peers.config
        context.correlation_id.set(plan.correlation_id)
        log.info(
            "[SAGA] booking requested key=%s fail_at=%s faults=%s",
            plan.idempotency_key,
            ",".join(plan.fail_at) or "-",
            ",".join(plan.faults) or "-",
        )
        saga: orchestrator_pb2.Saga = await self.peers.call(
            config.orchestrator,
            self.peers.orchestrator.StartBooking,
            orchestrator_pb2.StartBookingRequest(
                request_id=plan.idempotency_key, booking=plan.request
            ),
            timeout=config.start_wait,
            metadata=plan.metadata(),
        )
        self._follow_later(saga)
        return saga

    async def start_saga(self, plan: SagaPlan) -> orchestrator_pb2.Saga:
        """Start a saga of any served kind (StartSaga); return its record as it answered."""
        config = self.peers.config
        context.correlation_id.set(plan.correlation_id)
        log.info(
            "[SAGA] %s v%s requested key=%s fail_at=%s faults=%s",
            plan.request.saga,
            plan.request.version or "latest",
            plan.request.request_id,
            ",".join(plan.fail_at) or "-",
            ",".join(plan.faults) or "-",
        )
        saga: orchestrator_pb2.Saga = await self.peers.call(
            config.orchestrator,
            self.peers.orchestrator.StartSaga,
            plan.request,
            timeout=config.start_wait,
            metadata=plan.metadata(),
        )
        self._follow_later(saga)
        return saga

    def _follow_later(self, saga: orchestrator_pb2.Saga) -> None:
        follow = asyncio.create_task(self._follow(saga), name=f"follow {saga.saga_id}")
        self._background.add(follow)
        follow.add_done_callback(self._background.discard)

    async def _follow(self, saga: orchestrator_pb2.Saga) -> None:
        """Log the saga's outcome once it has one (from the record itself if it has already)."""
        status = orchestrator_pb2.SagaStatus.Name(saga.status)
        if status not in TERMINAL:
            try:
                stream = self.peers.orchestrator.WatchSaga(
                    orchestrator_pb2.WatchSagaRequest(saga_id=saga.saga_id),
                    timeout=self.peers.config.book_timeout,
                    metadata=self.peers.metadata(),  # the booking user's token
                )
                async for _ in stream:
                    pass
                saga = await self.peers.call(
                    self.peers.config.orchestrator,
                    self.peers.orchestrator.GetSaga,
                    orchestrator_pb2.GetSagaRequest(saga_id=saga.saga_id),
                )
            except Exception as exc:  # the saga goes on; only the log line is lost
                log.warning("[SAGA] stopped following saga %s: %s", saga.saga_id, exc)
                return
        contextvars.copy_context().run(_emit_outcome, saga)

    async def close(self) -> None:
        """Stop following sagas (they go on)."""
        for task in list(self._background):
            task.cancel()
        for task in list(self._background):
            with contextlib.suppress(BaseException):
                await task


def _emit_outcome(saga: orchestrator_pb2.Saga) -> None:
    """Log a saga's outcome with its own ids (run in a copied context)."""
    context.saga_id.set(saga.saga_id)
    context.correlation_id.set(saga.correlation_id or context.correlation_id.get())
    status = orchestrator_pb2.SagaStatus.Name(saga.status)
    level = logging.INFO if status in ("COMPLETED", "RUNNING") else logging.WARNING
    done = status == "COMPLETED"
    facts = " ".join(f"{k}={v}" for k, v in plain(saga.facts).items()) if done else ""
    log.log(
        level,
        "[SAGA] saga %s is %s%s%s%s",
        saga.saga_id,
        status,
        f" ref={saga.booking_reference}" if saga.booking_reference else "",
        f" {facts}" if facts else "",
        f" error={saga.error}" if saga.error else "",
    )
