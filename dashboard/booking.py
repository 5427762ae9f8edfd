"""Starting a booking saga from an HTTP request and answering at once with its saga id.

Design: the dashboard generates the saga's idempotency key and correlation id, then starts
BookFlight (with a long deadline) as a background task. BookFlight answers when the saga is
terminal, so the request does not wait for it; instead it returns the saga id from whichever
comes first:

- BookFlight's own reply (a fast saga, or an immediate error such as INVALID_ARGUMENT, which is
  then the HTTP answer), or
- the saga found in ListSagas (newest first) by its idempotency key, polled with backoff.

The idempotency key makes this safe: a client retrying the POST with the same key gets the same
saga, never a second booking. The background call is kept only to log the saga's outcome; the
saga itself runs in the orchestrator and goes on if the dashboard stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging

from dashboard.peers import ApiError, Peers
from dashboard.translate import BookingPlan
from flightsaga.v1 import orchestrator_pb2
from sagakit import context

log = logging.getLogger("dashboard.booking")

LIST_PAGE = 50
FIRST_POLL = 0.05
MAX_POLL = 0.5


class BookingStarter:
    def __init__(self, peers: Peers) -> None:
        self.peers = peers
        self._background: set[asyncio.Task[orchestrator_pb2.Saga]] = set()

    async def start(self, plan: BookingPlan) -> orchestrator_pb2.Saga:
        """Start the saga; return its record (maybe still RUNNING) as soon as its id is known."""
        config = self.peers.config
        context.correlation_id.set(plan.correlation_id)
        orch = self.peers.orchestrator
        task = asyncio.create_task(
            self.peers.call(
                config.orchestrator,
                orch.BookFlight,
                plan.request,
                timeout=config.book_timeout,
                metadata=plan.metadata(),
            ),
            name=f"BookFlight {plan.idempotency_key}",
        )
        log.info(
            "[SAGA] booking requested key=%s fail_at=%s faults=%s",
            plan.idempotency_key,
            ",".join(plan.fail_at) or "-",
            ",".join(plan.faults) or "-",
        )
        loop = asyncio.get_running_loop()
        give_up = loop.time() + config.start_wait
        try:
            return await self._wait_for_id(task, plan, give_up)
        except asyncio.CancelledError:
            self._keep(task)  # the client left; the call goes on, so the outcome is logged
            raise

    async def _wait_for_id(
        self, task: asyncio.Task[orchestrator_pb2.Saga], plan: BookingPlan, give_up: float
    ) -> orchestrator_pb2.Saga:
        config = self.peers.config
        loop = asyncio.get_running_loop()
        pause = FIRST_POLL
        while True:
            done, _ = await asyncio.wait({task}, timeout=pause)
            if done:
                saga = task.result()  # raises ApiError for a refused booking
                self._log_outcome(saga)
                return saga
            saga_or_none = await self._find(plan.idempotency_key)
            if saga_or_none is not None:
                self._keep(task)
                return saga_or_none
            if loop.time() >= give_up:
                self._keep(task)
                raise ApiError(
                    504,
                    f"the orchestrator at {config.orchestrator.addr} did not start the saga "
                    f"within {config.start_wait:g}s (idempotency key {plan.idempotency_key}; "
                    "retrying with the same key is safe)",
                    code="DEADLINE_EXCEEDED",
                )
            pause = min(pause * 2, MAX_POLL)

    async def _find(self, key: str) -> orchestrator_pb2.Saga | None:
        try:
            page = await self.peers.call(
                self.peers.config.orchestrator,
                self.peers.orchestrator.ListSagas,
                orchestrator_pb2.ListSagasRequest(page_size=LIST_PAGE),
            )
        except ApiError:
            return None  # the BookFlight call reports the real problem
        return next((s for s in page.sagas if s.idempotency_key == key), None)

    def _keep(self, task: asyncio.Task[orchestrator_pb2.Saga]) -> None:
        self._background.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[orchestrator_pb2.Saga]) -> None:
        self._background.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.warning("[SAGA] BookFlight call ended without a record: %s", exc)
            return
        self._log_outcome(task.result())

    @staticmethod
    def _log_outcome(saga: orchestrator_pb2.Saga) -> None:
        contextvars.copy_context().run(_emit_outcome, saga)

    async def close(self) -> None:
        """Stop waiting for outstanding BookFlight replies (their sagas go on)."""
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
    log.log(
        level,
        "[SAGA] saga %s is %s%s%s",
        saga.saga_id,
        status,
        f" ref={saga.booking_reference}" if saga.booking_reference else "",
        f" error={saga.error}" if saga.error else "",
    )
