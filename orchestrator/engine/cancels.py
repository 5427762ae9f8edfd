"""Operators' cancels: whether a saga can be cancelled, how this runner's drivers hear of
them, and the waits a cancel cuts short.

A cancel is on the saga's row first (cancel_sql.py); then the driver hears of it at once when
the request reached its own replica, or from the saga log within `claim_every` seconds when it
reached another (claims.py). A driver waiting on a participant's Do or on a retry's backoff is
interrupted (CancelRequested): that Do may have run, so its step is compensated.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

from orchestrator.engine.errors import CancelRequested, NotCancellable
from orchestrator.engine.model import CancelRequest, SagaRecord, SagaStatus
from sagakit import context

T = TypeVar("T")
log = logging.getLogger("orchestrator.saga")


class CancelTable:
    def __init__(self) -> None:
        self._told: dict[str, CancelRequest] = {}
        # saga id -> its driver's task while it waits in interruptible()
        self._waiting: dict[str, asyncio.Task[Any]] = {}
        self._interrupted: set[str] = set()

    def accepted(
        self, saga: SagaRecord, request: CancelRequest, driven_here: bool, live: SagaRecord | None
    ) -> None:
        """The saga as the log has it once `request` was put on its row (SagaStore.cancel):
        raises NotCancellable if it has ended or FAILED; else its driver, if it runs here, is
        told at once (`live`: its record), and another replica's hears of it from the log."""
        if refused := not_cancellable(saga):
            raise NotCancellable(refused)
        context.saga_id.set(saga.saga_id)
        context.correlation_id.set(saga.correlation_id)
        if saga.cancel is request:
            log.warning("[SAGA] cancel requested by %s: %s", request.by, request.reason)
        if saga.status == SagaStatus.RUNNING and saga.cancel is not None and driven_here:
            self.tell(saga.saga_id, saga.cancel, live)

    def tell(self, saga_id: str, request: CancelRequest, live: SagaRecord | None) -> None:
        """The saga's driver (if it runs here) must stop going forward; `live`: its record."""
        if live is not None and live.cancel is None:
            live.cancel = request  # read at once by GetSaga, and by the driver between steps
        if saga_id in self._told:
            return
        self._told[saga_id] = request
        task = self._waiting.get(saga_id)
        if task is not None:
            self._interrupted.add(saga_id)
            task.cancel()

    def pending(self, saga: SagaRecord) -> CancelRequest | None:
        """The cancel the saga's driver has to act on, if any."""
        if saga.cancel is None:
            saga.cancel = self._told.get(saga.saga_id)
        return saga.cancel

    def forget(self, saga_id: str) -> None:
        """The saga's driver here ended."""
        self._told.pop(saga_id, None)

    async def interruptible(self, saga: SagaRecord, wait: Coroutine[Any, Any, T]) -> T:
        """Await `wait` (a participant call, a backoff) unless a cancel cuts it short."""
        if (request := self.pending(saga)) is not None:
            wait.close()
            raise CancelRequested(request)
        task = asyncio.current_task()
        assert task is not None
        self._waiting[saga.saga_id] = task
        try:
            return await wait
        except asyncio.CancelledError:
            if saga.saga_id not in self._interrupted or task.uncancel() > 0:
                raise  # stopped for another reason too (shutdown, lease lost)
            request = self.pending(saga)
            assert request is not None
            raise CancelRequested(request) from None
        finally:
            self._waiting.pop(saga.saga_id, None)
            self._interrupted.discard(saga.saga_id)


def not_cancellable(saga: SagaRecord) -> str:
    """Why the saga cannot be cancelled, or "" (running, compensating, or cancelled before)."""
    if saga.status == SagaStatus.FAILED:
        return (
            f"saga {saga.saga_id} is FAILED: a compensation could not finish; ResumeSaga "
            "drives it to its end, there is nothing to cancel"
        )
    if saga.status == SagaStatus.COMPLETED or (
        saga.status == SagaStatus.COMPENSATED and saga.cancel is None
    ):
        return f"saga {saga.saga_id} is {saga.status.value}: it has ended, nothing to cancel"
    return ""
