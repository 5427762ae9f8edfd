"""Admission of new sagas: a replica starts a new saga only while fewer than SAGA_MAX_IN_FLIGHT
sagas are in flight on it (driven here, or being started); past that it refuses at once with
RESOURCE_EXHAUSTED (reason OVERLOADED) and a RetryInfo, leaving nothing behind (admission_gate
refuses before the request is read). A replay of a known idempotency key is never refused, nor
sagas resumed, cancelled or recovered (they count as in flight); a bulk job's resumes wait for
a place (`take`). docs/operations.md#sizing-the-admission-limit.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from orchestrator.engine.store import SagaStore
from sagakit.db import Conn
from sagakit.errors import Overloaded, retry_later

log = logging.getLogger("orchestrator.admission")

SUMMARY_EVERY_S = 5.0
# What a refused caller is told to wait: about the time a few sagas take to free their slots,
# long enough that retries do not come back as a storm.
RETRY_AFTER_S = 1.0


class Admission:
    def __init__(
        self,
        limit: int,
        in_flight: Callable[[], int],
        known_key: Callable[[str], Awaitable[bool]],
        retry_after: float = RETRY_AFTER_S,
    ) -> None:
        """`in_flight`: the sagas this replica drives now; `known_key`: whether a saga with
        this idempotency key is already logged (a replay, answered whatever the load)."""
        self.limit = limit
        self.in_flight = in_flight
        self.known_key = known_key
        self.retry_after = retry_after
        self.starting = 0  # admitted, not yet driven (validated, being logged)
        self.refused = 0  # since the last summary line
        self.noted_at = 0.0

    def note_refusal(self) -> None:
        """One log line per SUMMARY_EVERY_S while refusing, not one per refused call."""
        self.refused += 1
        now = time.monotonic()
        if now - self.noted_at >= SUMMARY_EVERY_S:
            log.warning(
                "[ADMISSION] busy: %d new sagas refused (RESOURCE_EXHAUSTED) since the last "
                "line; %d in flight, SAGA_MAX_IN_FLIGHT=%d",
                self.refused,
                self.in_flight() + self.starting,
                self.limit,
            )
            self.refused, self.noted_at = 0, now

    def has_room(self) -> bool:
        return self.in_flight() + self.starting < self.limit

    def take(self) -> bool:
        """Hold a place for one saga about to be driven here if there is room (`give_back`
        once it is driven, counted by `in_flight`, or was not started after all)."""
        if not self.has_room():
            return False
        self.starting += 1
        return True

    def give_back(self) -> None:
        self.starting -= 1

    async def answers(self, idempotency_key: str) -> bool:
        """Whether a new saga with this key is answered now: there is room, or it is a replay."""
        if self.has_room():
            return True
        return bool(idempotency_key) and await self.known_key(idempotency_key)

    def overloaded(self) -> Overloaded:
        """What a refused caller is told."""
        return Overloaded(
            f"{retry_later(self.retry_after)}: {self.limit} sagas in flight on this replica "
            "(SAGA_MAX_IN_FLIGHT)",
            self.retry_after,
            limit=str(self.limit),
        )

    @asynccontextmanager
    async def slot(self, idempotency_key: str) -> AsyncIterator[None]:
        """Hold a place for one new saga while it is started: leave the block once the saga
        is logged and its driver runs (it is then counted by `in_flight`)."""
        if self.take():
            try:
                yield
            finally:
                self.give_back()
            return
        if idempotency_key and await self.known_key(idempotency_key):
            yield  # a replay: answered with the saga already logged
            return
        self.note_refusal()
        raise self.overloaded()


def logged_key(store: SagaStore) -> Callable[[str], Awaitable[bool]]:
    """Whether the saga log holds a saga with this idempotency key (one indexed read)."""

    def find(conn: Conn, key: str) -> bool:
        row = conn.execute("SELECT 1 FROM sagas WHERE idempotency_key=?", (key,)).fetchone()
        return row is not None

    async def known(key: str) -> bool:
        return await store.db.read(lambda c: find(c, key))

    return known
