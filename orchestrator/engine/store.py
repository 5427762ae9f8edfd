"""The saga log: tables for sagas, their step queue and their events (SQLite or PostgreSQL).

Every transition is one transaction (writes.py), written before the participant call it
announces and again with its outcome. The log is the truth; the runner's objects are a cache.
Several replicas may share one log (PostgreSQL): a live saga is driven by the replica holding
its lease (lease_sql.py), and every transition is fenced by the saga's lease epoch. The SQL
lives in the modules by concern; SagaStore runs it in transactions and reads.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from orchestrator.engine.bulk_sql import prune_jobs
from orchestrator.engine.cancel_sql import pending_cancels, request_cancel
from orchestrator.engine.counts import COUNTS, STRIPES, Pruned, finished_counts
from orchestrator.engine.counts import prune as prune_batch
from orchestrator.engine.counts import stats as read_stats
from orchestrator.engine.errors import LeaseLost
from orchestrator.engine.lease_sql import LEASES, claimable, expire, holder, take
from orchestrator.engine.lease_sql import release as release_leases
from orchestrator.engine.lease_sql import renew as renew_leases
from orchestrator.engine.model import (
    FINISHED,
    CancelRequest,
    SagaEvent,
    SagaRecord,
    SagaStatus,
    StepRecord,
)
from orchestrator.engine.reads import Page, events, page
from orchestrator.engine.rows import (
    EVENTS,
    FLIGHTS,
    SAGAS,
    STEPS,
    event_row,
    load,
    saga_row,
    step_row,
)
from orchestrator.engine.saga_query import Key, SagaQuery, keys
from orchestrator.engine.writes import UPDATED, Write, write_all
from sagakit import testhooks
from sagakit.databases import connect
from sagakit.db import Conn, Database
from sagakit.inserts import Insert, Rows, insert_all
from sagakit.migrate import Migrations

__all__ = ["MIGRATIONS", "Key", "LeaseLost", "Page", "Pruned", "SagaQuery", "SagaStore", "Write"]

SINK_CHECKPOINT = "sink_checkpoint"
# A new saga's row; one whose idempotency key is logged already is not inserted (create).
NEW_SAGA = Insert(SAGAS.into, SAGAS.width, "ON CONFLICT (idempotency_key) DO NOTHING").sql(1)
MIGRATIONS = Migrations("orchestrator", marker_table="sagas")


class SagaStore:
    def __init__(
        self,
        target: Path | str,
        synchronous: str = "FULL",
        outbox: bool = False,
        sink_name: str = "",
        writer: str = "",
        hold_s: float | None = None,
    ) -> None:
        """`target`: a DATABASE_URL, or a SQLite file. `outbox`: record finished sagas for a
        sink (the saga_outbox table), named `sink_name` (replicas sharing the log each have
        their own sink, and reconcile only their own rows). `writer`: this replica's name,
        which picks its saga_counts stripe. `hold_s`: how long a transaction of this process
        may keep saga rows locked (PostgreSQL; below the lease TTL, so a paused or cut-off
        replica does not hold up a takeover)."""
        url = target if isinstance(target, str) else f"sqlite:///{target}"
        self.db: Database = connect(url, MIGRATIONS, synchronous, hold_s)
        self.outbox = outbox
        self.sink_name = sink_name
        # Picked by the replica, not by the saga: with group commit a batch finishes many
        # sagas, and stripes picked by saga id made nearly every two replicas' batches update
        # a common row, so that under SERIALIZABLE one of them was undone and ran again.
        self.stripe = zlib.crc32(writer.encode()) % STRIPES

    @property
    def _checkpoint_key(self) -> str:
        return f"{SINK_CHECKPOINT}:{self.sink_name}" if self.sink_name else SINK_CHECKPOINT

    @property
    def shared(self) -> bool:
        """Whether other processes may use this log (PostgreSQL); a SQLite file is one
        process's alone (it holds the file's lock)."""
        return self.db.dialect != "sqlite"

    async def open(self) -> None:
        await self.db.open()

    async def close(self) -> None:
        await self.db.close()

    # ---- transitions ------------------------------------------------------------------

    async def create(
        self,
        saga: SagaRecord,
        event: SagaEvent,
        *later: SagaEvent,
        lease: tuple[str, float] | None = None,
    ) -> tuple[SagaRecord, bool]:
        """Insert a new saga with its events (the start, then any `later` ones: its first
        step's start) and its lease (owner, expires; without one, any replica may claim it), or
        return the existing one with the same idempotency key."""

        def tx(conn: Conn) -> tuple[SagaRecord, bool]:
            (_, [row]), *others = self._new_rows(saga, (event, *later), lease)
            # The saga row first, kept out by a logged key: not a lookup by key before it,
            # which under SERIALIZABLE locks the key index's page against every saga started
            # beside it (another replica's among them) and makes their commits conflict.
            if conn.execute(NEW_SAGA, row).rowcount != 1:
                found = load(conn, "idempotency_key=?", (saga.idempotency_key,))
                if not found:  # only a logged key keeps a new saga out
                    raise RuntimeError(f"saga {saga.saga_id}: not inserted, and no key clashed")
                return found[0], False
            insert_all(conn, others)
            return saga, True

        _crash_point("before", saga.saga_id, (), event, *later)
        stored, created = await self.db.transaction(tx)
        if created:
            _crash_point("after", saga.saga_id, (), event, *later)
        return stored, created

    def _new_rows(
        self, saga: SagaRecord, logged: Sequence[SagaEvent], lease: tuple[str, float] | None
    ) -> list[tuple[Insert, Rows]]:
        """A new saga's rows, the saga row first (the others refer to it); create inserts it
        alone, then the others in one statement on PostgreSQL."""
        return [
            (SAGAS, [saga_row(saga)]),
            (STEPS, [step_row(saga.saga_id, st) for st in saga.steps]),
            (
                FLIGHTS,
                [
                    (f, saga.created_at, saga.saga_id)
                    for f in dict.fromkeys(saga.subject.flight_ids)
                ],
            ),
            (EVENTS, [event_row(e, saga.lease_epoch) for e in logged]),
            (LEASES, [(saga.saga_id, lease[0], saga.lease_epoch, lease[1])] if lease else []),
            (COUNTS, finished_counts(saga, self.stripe) if saga.status in FINISHED else []),
        ]

    def transition(
        self, saga: SagaRecord, steps: Iterable[StepRecord], event: SagaEvent | None
    ) -> Write:
        """One transition's writes, its rows taken as they are now; run them in a transaction
        (see save's `earlier`)."""
        row = saga_row(saga)
        finished = saga.status in FINISHED
        return Write(
            saga_id=saga.saga_id,
            epoch=saga.lease_epoch,
            update=(*(row[i] for i in UPDATED), saga.saga_id, saga.lease_epoch),
            step_rows=[step_row(saga.saga_id, st) for st in steps],
            event=event,
            outbox=(
                (saga.saga_id, saga.status.value, self.sink_name)
                if self.outbox and finished
                else None
            ),
            # A saga finishes once (FINISHED is final: nothing resumes it), so it is counted once.
            counted=finished_counts(saga, self.stripe) if finished else None,
            completes=saga.status == SagaStatus.COMPLETED,
        )

    async def save(
        self,
        saga: SagaRecord,
        steps: Iterable[StepRecord],
        event: SagaEvent | None,
        earlier: Sequence[Write] = (),
    ) -> None:
        """Persist one transition: the saga row, the changed steps and the event, atomically;
        after the `earlier` transitions held back for it, in the same transaction."""
        own = self.transition(saga, steps, event)
        _crash_point("before", saga.saga_id, earlier, event)
        await self.db.transaction(lambda conn: write_all(conn, [*earlier, own]))
        _crash_point("after", saga.saga_id, earlier, event)

    def save_soon(self, writes: Sequence[Write]) -> asyncio.Future[None]:
        """Commit held-back transitions without waiting (a driver stopping before its next
        transition). Any failure is left to the future."""
        return self.db.submit(lambda conn: write_all(conn, writes))

    # ---- an operator's cancel ---------------------------------------------------------

    async def cancel(self, saga_id: str, request: CancelRequest) -> SagaRecord | None:
        """Put `request` on the saga's row if it is RUNNING and not cancelled yet (any replica
        may: it is a request to the driver, not a transition, so not fenced); the saga as the
        log has it then, None if unknown."""
        return await self.db.transaction(lambda conn: request_cancel(conn, saga_id, request))

    async def pending_cancels(self) -> list[tuple[str, CancelRequest]]:
        """Running sagas with a cancel on their row that no driver acted on yet (a small
        partial index: not a scan of the log)."""
        return await self.db.read(pending_cancels)

    # ---- the outbox (finished sagas a sink may not have) ------------------------------

    async def undelivered(self) -> tuple[list[str], str]:
        """Terminal sagas the sink may not have, and the sink's checkpoint."""

        def q(conn: Conn) -> tuple[list[str], str]:
            # Rows from before sinks had names ('') belong to whoever reconciles first.
            ids = [
                r[0]
                for r in conn.execute(
                    "SELECT saga_id FROM saga_outbox WHERE sink IN (?, '')", (self.sink_name,)
                )
            ]
            row = conn.execute(
                "SELECT value FROM engine_meta WHERE key=?", (self._checkpoint_key,)
            ).fetchone()
            return ids, row[0] if row else ""

        return await self.db.read(q)

    async def mark_delivered(self, saga_ids: Sequence[str], checkpoint: str) -> None:
        """The sink has these sagas; `checkpoint` is its position to reconcile from."""

        def tx(conn: Conn) -> None:
            conn.executemany("DELETE FROM saga_outbox WHERE saga_id=?", [(i,) for i in saga_ids])
            conn.execute(
                "INSERT INTO engine_meta (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value=excluded.value",
                (self._checkpoint_key, checkpoint),
            )

        await self.db.transaction(tx)

    # ---- leases -----------------------------------------------------------------------

    async def claim(self, owner: str, expires: float, now: float, limit: int) -> list[SagaRecord]:
        """Take the lease of up to `limit` live sagas nobody holds (never leased, released, or
        expired by `now`; see expire_leases for a restart); each claim bumps the saga's lease
        epoch. Concurrent claimers skip each other's rows (PostgreSQL: FOR UPDATE SKIP LOCKED)."""
        pick, args = claimable(now, limit, shared=False)
        # Mostly there is nothing to claim: find that out with a read, not a write transaction
        # (on SQLite a commit, an fsync, every second).
        if not await self.db.read(lambda c: c.execute(pick, args).fetchone()):
            return []
        locking, _ = claimable(now, limit, shared=self.shared)

        def tx(conn: Conn) -> list[SagaRecord]:
            ids = [r[0] for r in conn.execute(locking, args).fetchall()]
            return take(conn, ids, owner, expires)

        return await self.db.transaction(tx)

    async def take(self, saga_id: str, owner: str, expires: float) -> SagaRecord | None:
        """Take one saga's lease whoever holds it (an operator's resume); the holder, if any,
        is fenced off from then on."""

        def tx(conn: Conn) -> SagaRecord | None:
            found = take(conn, [saga_id], owner, expires)
            return found[0] if found else None

        return await self.db.transaction(tx)

    async def renew(
        self,
        owner: str,
        leases: dict[str, int],
        expires: float,
        ended: Sequence[tuple[str, int]] = (),
    ) -> set[str]:
        """Extend the leases `owner` still holds (saga id -> the epoch it claimed) and drop
        those of sagas it has `ended` (saga id, epoch); returns the sagas whose lease it still
        has."""
        if not leases and not ended:
            return set()
        return await self.db.transaction(
            lambda conn: renew_leases(conn, owner, leases, expires, ended)
        )

    async def expire_leases(self, owner: str | None) -> int:
        """End at once every lease `owner` holds (None: every lease), so claims take those
        sagas: a replica restarting under the same name, or the one process of a SQLite log.
        Returns how many."""
        return await self.db.transaction(lambda conn: expire(conn, owner))

    async def release(self, owner: str, saga_ids: Sequence[str]) -> None:
        """Give up leases (a replica stopping): other replicas may claim them at once."""
        if not saga_ids:
            return
        await self.db.transaction(lambda conn: release_leases(conn, owner, saga_ids))

    async def owner(self, saga_id: str) -> tuple[str, float] | None:
        """Who holds the saga's lease and until when (seconds since the epoch), if anyone."""
        return await self.db.read(lambda c: holder(c, saga_id))

    # ---- reads, counts and retention --------------------------------------------------

    async def load(self, saga_id: str) -> SagaRecord | None:
        found = await self.db.read(lambda c: load(c, "saga_id=?", (saga_id,)))
        return found[0] if found else None

    async def page(self, query: SagaQuery, limit: int, after: Key | None = None) -> Page:
        """The sagas `query` matches, newest first, by keyset: a page starts after the
        (created_at, saga_id) the previous one ended with, so sagas created meanwhile neither
        shift nor repeat later pages."""
        return await self.db.read(lambda c: page(c, query, limit, after))

    async def find_saga_ids(
        self, query: SagaQuery, after: Key | None = None, limit: int = 500
    ) -> list[Key]:
        """One batch of the sagas `query` matches: up to `limit` (created_at, saga_id) keys
        after `after`, newest first; pass the last key as `after` for the next batch (an
        empty list: no more). Every filter reads an index (migration 0006)."""
        return await self.db.read(lambda c: keys(c, query, after, limit))

    async def events(self, saga_id: str, after_seq: int = 0) -> list[SagaEvent]:
        return await self.db.read(lambda c: events(c, saga_id, after_seq))

    async def stats(self) -> dict[str, int]:
        """Sagas by status, their steps by state (`all:<state>`, and `live:<state>` for live
        sagas), and compensations pending: without a scan of the finished sagas."""
        return await self.db.read(read_stats)

    async def prune(self, finished_before: str, limit: int) -> Pruned | None:
        """Retention: delete up to `limit` sagas that finished (COMPLETED or COMPENSATED)
        before `finished_before` (an ISO timestamp), oldest first, with their steps, events,
        outbox, lease and bulk job rows, and up to `limit` bulk jobs that ended before it, in
        one transaction. FAILED sagas stay (an operator's). None: another replica is pruning
        this log right now."""
        shared = self.shared

        def batch(conn: Conn) -> Pruned | None:
            done = prune_batch(conn, finished_before, limit, shared)
            if done is None:
                return None
            return replace(done, jobs=prune_jobs(conn, finished_before, limit))

        return await self.db.transaction(batch)


def _crash_point(
    when: str, saga_id: str, earlier: Sequence[Write], *events: SagaEvent | None
) -> None:
    """Before or after a saga's durable write (the `earlier` transitions held back for it,
    then `events`): the test hooks' crash points (sagakit.testhooks; one check when off)."""
    if testhooks.enabled():
        logged = [*(w.event for w in earlier), *events]
        labels = [f"{e.type.value} {e.step}".strip() for e in logged if e is not None]
        testhooks.durable_write(when, saga_id, labels)
