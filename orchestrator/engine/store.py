"""The saga log: tables for sagas, their step queue and their events (SQLite or PostgreSQL).

Every transition is one transaction (saga row + changed step rows + one event), written before
the participant call it announces and again with its outcome. The log is the truth; the
runner's objects are a cache.

Several orchestrator replicas may share one log (PostgreSQL). A live saga is driven by the
replica holding its lease: a saga_leases row (owner, expires in seconds since the epoch) and
the saga's `lease_epoch`, which grows with every claim. Every transition is fenced: its saga
update matches only while `lease_epoch` is still the one its driver claimed, and otherwise the
whole transaction is undone (LeaseLost): a replica that was paused, cut off or slow past its
lease writes nothing more for that saga once another replica has claimed it. Renewals write
saga_leases rows only, so they never conflict with transitions (PostgreSQL would make one of
two writers of a row start over).

Counts (GetStats, the gauges) never scan the whole log: a finished saga adds itself to
saga_counts in the transaction that finishes it (on one of STRIPES rows per key, picked by the
replica's name: a replica's writes are one transaction at a time, so only two replicas whose
names share a stripe ever meet on a row), and the live and FAILED sagas are counted from
themselves through the status index (migration 0004). Retention (`prune`) deletes finished
sagas in small batches and takes them off the counts in the same transaction.
"""

from __future__ import annotations

import asyncio
import json
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.engine.errors import LeaseLost
from orchestrator.engine.model import (
    FINISHED,
    LIVE,
    NEEDS_COMPENSATION,
    SagaEvent,
    SagaEventType,
    SagaRecord,
    SagaStatus,
    StepRecord,
    StepState,
)
from sagakit.db import Conn, Database, connect
from sagakit.migrate import Migrations

_SAGA_COLS = (
    "saga_id, definition, correlation_id, status, payload, idempotency_key, fault_plan,"
    " created_at, updated_at, finished_at, deadline_at, error, compensation_order, event_seq,"
    " lease_epoch, definition_version"
)
_N_SAGA_COLS = 16
_STEP_COLS = (
    "saga_id, idx, name, state, attempts, compensation_attempts, compensation_round, uncertain,"
    " started_at, finished_at, compensation_started_at, compensated_at, result, error,"
    " compensation_result, compensation_error"
)


_UPDATE_SAGA = (
    "UPDATE sagas SET status=?, fault_plan=?, updated_at=?, finished_at=?, error=?,"
    " compensation_order=?, event_seq=? WHERE saga_id=? AND lease_epoch=?"
)
_UPDATED = (3, 6, 8, 9, 11, 12, 13)  # the _saga_row fields a transition may change, in order
_STEP_UPDATED = [c.strip() for c in _STEP_COLS.split(",")][2:]  # all but the key
_UPSERT_STEP = (
    f"INSERT INTO saga_steps ({_STEP_COLS}) VALUES ({','.join('?' * 16)})"
    " ON CONFLICT (saga_id, idx) DO UPDATE SET "
    + ", ".join(f"{c}=excluded.{c}" for c in _STEP_UPDATED)
)
_OUTBOX = (
    "INSERT INTO saga_outbox (saga_id, status, sink) VALUES (?, ?, ?)"
    " ON CONFLICT (saga_id) DO UPDATE SET status=excluded.status, sink=excluded.sink"
)
_LIVE_MARKS = ",".join("?" * len(LIVE))
_LIVE_VALUES = tuple(s.value for s in LIVE)
# Sagas counted from themselves (not in saga_counts): few, found through the status index.
_UNFINISHED = tuple(s.value for s in SagaStatus if s not in FINISHED)
_UNFINISHED_MARKS = ",".join("?" * len(_UNFINISHED))
_FINISHED_VALUES = tuple(sorted(s.value for s in FINISHED))
_OWES = frozenset(s.value for s in NEEDS_COMPENSATION)
_OWES_IN = (SagaStatus.COMPENSATING.value, SagaStatus.FAILED.value)

STRIPES = 64  # rows per key in saga_counts that finishing sagas add to
PRUNE_STRIPE = -1  # the row retention takes deleted sagas off (one pruner at a time)
# The PostgreSQL advisory lock a replica holds while it prunes (others skip their turn).
PRUNE_LOCK = 0x466C5370  # "FlSp"
_COUNT = (
    "INSERT INTO saga_counts (stripe, key, n) VALUES (?, ?, ?)"
    " ON CONFLICT (stripe, key) DO UPDATE SET n = saga_counts.n + excluded.n"
)


def _finished_counts(saga: SagaRecord, stripe: int) -> list[tuple[int, str, int]]:
    """What a saga that has just finished adds to saga_counts: its status and its steps'."""
    keys = Counter({saga.status.value: 1})
    keys.update(f"all:{st.state.value}" for st in saga.steps)
    return [(stripe, k, n) for k, n in keys.items()]


SINK_CHECKPOINT = "sink_checkpoint"


def _dump(value: object) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))


def _saga_row(s: SagaRecord) -> tuple[object, ...]:
    return (
        s.saga_id,
        s.definition,
        s.correlation_id,
        s.status.value,
        s.payload,
        s.idempotency_key or None,
        s.fault_plan,
        s.created_at,
        s.updated_at,
        s.finished_at,
        s.deadline_at,
        s.error,
        json.dumps(s.compensation_order),
        s.event_seq,
        s.lease_epoch,
        s.definition_version,
    )


def _step_row(saga_id: str, st: StepRecord) -> tuple[object, ...]:
    return (
        saga_id,
        st.index,
        st.name,
        st.state.value,
        st.attempts,
        st.compensation_attempts,
        st.compensation_round,
        int(st.uncertain),
        st.started_at,
        st.finished_at,
        st.compensation_started_at,
        st.compensated_at,
        _dump(st.result),
        st.error,
        _dump(st.compensation_result),
        st.compensation_error,
    )


def _step_from(row: Any) -> StepRecord:
    return StepRecord(
        name=row["name"],
        index=row["idx"],
        state=StepState(row["state"]),
        attempts=row["attempts"],
        compensation_attempts=row["compensation_attempts"],
        compensation_round=row["compensation_round"],
        uncertain=bool(row["uncertain"]),
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        compensation_started_at=row["compensation_started_at"],
        compensated_at=row["compensated_at"],
        result=json.loads(row["result"]) if row["result"] else None,
        error=row["error"],
        compensation_result=(
            json.loads(row["compensation_result"]) if row["compensation_result"] else None
        ),
        compensation_error=row["compensation_error"],
    )


def _saga_from(row: Any, steps: list[StepRecord]) -> SagaRecord:
    return SagaRecord(
        saga_id=row["saga_id"],
        definition=row["definition"],
        correlation_id=row["correlation_id"],
        payload=bytes(row["payload"]),
        steps=steps,
        status=SagaStatus(row["status"]),
        idempotency_key=row["idempotency_key"] or "",
        fault_plan=row["fault_plan"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        finished_at=row["finished_at"],
        deadline_at=row["deadline_at"],
        error=row["error"],
        compensation_order=json.loads(row["compensation_order"]),
        event_seq=row["event_seq"],
        lease_epoch=row["lease_epoch"],
        definition_version=row["definition_version"],
    )


def _insert_event(conn: Conn, e: SagaEvent, epoch: int) -> None:
    conn.execute(
        "INSERT INTO saga_events (saga_id, seq, type, step, attempt, message, at, status,"
        " correlation_id, lease_epoch) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            e.saga_id,
            e.seq,
            e.type,
            e.step,
            e.attempt,
            e.message,
            e.at,
            e.status.value,
            e.correlation_id,
            epoch,
        ),
    )


def _load(conn: Conn, where: str, args: Iterable[object]) -> list[SagaRecord]:
    rows = conn.execute(f"SELECT {_SAGA_COLS} FROM sagas WHERE {where}", tuple(args)).fetchall()
    out = []
    for row in rows:
        steps = [
            _step_from(r)
            for r in conn.execute(
                f"SELECT {_STEP_COLS} FROM saga_steps WHERE saga_id=? ORDER BY idx",
                (row["saga_id"],),
            )
        ]
        out.append(_saga_from(row, steps))
    return out


def _take(conn: Conn, ids: list[str], owner: str, expires: float) -> list[SagaRecord]:
    """Bump these sagas' lease epochs (fencing off any holder) and lease them to `owner`."""
    if not ids:
        return []
    conn.executemany(
        "UPDATE sagas SET lease_epoch=lease_epoch+1 WHERE saga_id=?", [(i,) for i in ids]
    )
    sagas = _load(conn, f"saga_id IN ({','.join('?' * len(ids))})", ids)
    conn.executemany(_LEASE, [(s.saga_id, owner, s.lease_epoch, expires) for s in sagas])
    return sagas


_LEASE = (
    "INSERT INTO saga_leases (saga_id, owner, epoch, expires) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (saga_id) DO UPDATE SET owner=excluded.owner, epoch=excluded.epoch,"
    " expires=excluded.expires"
)


@dataclass(frozen=True)
class Write:
    """One transition of one saga, ready to run inside a transaction (SagaStore.transition)."""

    saga_id: str
    epoch: int
    update: tuple[object, ...]  # _UPDATE_SAGA's arguments: the saga row as of the transition
    step_rows: list[tuple[object, ...]]
    event: SagaEvent | None
    outbox: tuple[str, str, str] | None
    counted: list[tuple[int, str, int]] | None

    def rows(self, conn: Conn) -> None:
        """Everything but the saga row."""
        if self.step_rows:
            conn.executemany(_UPSERT_STEP, self.step_rows)
        if self.event is not None:
            _insert_event(conn, self.event, self.epoch)
        if self.outbox is not None:
            conn.execute(_OUTBOX, self.outbox)
        if self.counted is not None:
            conn.executemany(_COUNT, self.counted)


def _write_all(conn: Conn, writes: Sequence[Write]) -> None:
    """Consecutive transitions of one saga in one transaction. The saga row is written once,
    as the last of them left it, and first, so a fenced-off driver stops before it writes
    anything (every transition of a driver carries the same lease epoch)."""
    if not writes:
        return
    last = writes[-1]
    if conn.execute(_UPDATE_SAGA, last.update).rowcount != 1:
        raise LeaseLost(f"saga {last.saga_id}: lease {last.epoch} was claimed by another replica")
    for write in writes:  # in order: a later transition's step row wins over an earlier one's
        write.rows(conn)


@dataclass(frozen=True)
class Pruned:
    """One retention batch: how many sagas went, how many of them a bookings log never got
    (their outbox rows were still there), and what they counted for (SagaStore.stats keys)."""

    sagas: int
    unsunk: int
    counts: Counter[str]


@dataclass(frozen=True)
class Page:
    sagas: list[SagaRecord]
    total: int
    # Where the next page starts: the last saga's (created_at, saga_id), or None at the end.
    after: tuple[str, str] | None


MIGRATIONS = Migrations("orchestrator", marker_table="sagas")


class SagaStore:
    def __init__(
        self,
        target: Path | str,
        synchronous: str = "FULL",
        outbox: bool = False,
        sink_name: str = "",
        writer: str = "",
    ) -> None:
        """`target`: a DATABASE_URL, or a SQLite file. `outbox`: record finished sagas for a
        sink (the saga_outbox table), named `sink_name` (replicas sharing the log each have
        their own sink, and reconcile only their own rows). `writer`: this replica's name,
        which picks its saga_counts stripe."""
        url = target if isinstance(target, str) else f"sqlite:///{target}"
        self.db: Database = connect(url, MIGRATIONS, synchronous)
        self.outbox = outbox
        self.sink_name = sink_name
        # Picked by the replica, not by the saga: with group commit a batch finishes many
        # sagas, and stripes picked by saga id made nearly every two replicas' batches update
        # a common row, so that under SERIALIZABLE one of them was undone and ran again
        # (3 replicas at 256 concurrent sagas: 55 sagas/s, against 90 for one).
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

    async def create(
        self,
        saga: SagaRecord,
        event: SagaEvent,
        *later: SagaEvent,
        lease: tuple[str, float] | None = None,
    ) -> tuple[SagaRecord, bool]:
        """Insert a new saga with its events (the start, then any `later` ones: its first
        step's start) and its lease (owner, expires; without one, any replica may claim it), or
        return the existing one with the
        same idempotency key."""

        def tx(conn: Conn) -> tuple[SagaRecord, bool]:
            if saga.idempotency_key:
                found = _load(conn, "idempotency_key=?", (saga.idempotency_key,))
                if found:
                    return found[0], False
            conn.execute(
                f"INSERT INTO sagas ({_SAGA_COLS}) VALUES ({','.join('?' * _N_SAGA_COLS)})",
                _saga_row(saga),
            )
            conn.executemany(
                f"INSERT INTO saga_steps ({_STEP_COLS}) VALUES ({','.join('?' * 16)})",
                [_step_row(saga.saga_id, st) for st in saga.steps],
            )
            for e in (event, *later):
                _insert_event(conn, e, saga.lease_epoch)
            if lease is not None:
                conn.execute(_LEASE, (saga.saga_id, lease[0], saga.lease_epoch, lease[1]))
            if saga.status in FINISHED:
                conn.executemany(_COUNT, _finished_counts(saga, self.stripe))
            return saga, True

        return await self.db.transaction(tx)

    def transition(
        self, saga: SagaRecord, steps: Iterable[StepRecord], event: SagaEvent | None
    ) -> Write:
        """One transition's writes, its rows taken as they are now; run them in a transaction
        (see save's `earlier`)."""
        saga_row = _saga_row(saga)
        finished = saga.status in FINISHED
        return Write(
            saga_id=saga.saga_id,
            epoch=saga.lease_epoch,
            update=(*(saga_row[i] for i in _UPDATED), saga.saga_id, saga.lease_epoch),
            step_rows=[_step_row(saga.saga_id, st) for st in steps],
            event=event,
            outbox=(
                (saga.saga_id, saga.status.value, self.sink_name)
                if self.outbox and finished
                else None
            ),
            # A saga finishes once (FINISHED is final: nothing resumes it), so it is counted once.
            counted=_finished_counts(saga, self.stripe) if finished else None,
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
        await self.db.transaction(lambda conn: _write_all(conn, [*earlier, own]))

    def save_soon(self, writes: Sequence[Write]) -> asyncio.Future[None]:
        """Commit held-back transitions without waiting (a driver stopping before its next
        transition). Any failure is left to the future."""
        return self.db.submit(lambda conn: _write_all(conn, writes))

    async def load(self, saga_id: str) -> SagaRecord | None:
        found = await self.db.read(lambda c: _load(c, "saga_id=?", (saga_id,)))
        return found[0] if found else None

    async def unsunk(self) -> tuple[list[str], str]:
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

    async def sunk(self, saga_ids: Sequence[str], checkpoint: str) -> None:
        """The sink has these sagas; `checkpoint` is its position to reconcile from."""

        def tx(conn: Conn) -> None:
            conn.executemany("DELETE FROM saga_outbox WHERE saga_id=?", [(i,) for i in saga_ids])
            conn.execute(
                "INSERT INTO engine_meta (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value=excluded.value",
                (self._checkpoint_key, checkpoint),
            )

        await self.db.transaction(tx)

    # ---- leases ---------------------------------------------------------------------------

    async def claim(self, owner: str, expires: float, now: float, limit: int) -> list[SagaRecord]:
        """Take the lease of up to `limit` live sagas nobody holds (never leased, released, or
        expired by `now`; see expire_leases for a restart); each claim bumps the saga's lease
        epoch. Concurrent claimers skip each other's rows (PostgreSQL: FOR UPDATE SKIP LOCKED)."""
        pick = (
            f"SELECT s.saga_id FROM sagas s LEFT JOIN saga_leases l ON l.saga_id = s.saga_id"
            f" WHERE s.status IN ({_LIVE_MARKS})"
            " AND (l.saga_id IS NULL OR l.expires < ?)"
            " ORDER BY s.created_at LIMIT ?"
        )
        args = (*_LIVE_VALUES, now, limit)
        # Mostly there is nothing to claim: find that out with a read, not a write transaction
        # (on SQLite a commit, an fsync, every second).
        if not await self.db.read(lambda c: c.execute(pick, args).fetchone()):
            return []
        if self.shared:
            pick += " FOR UPDATE OF s SKIP LOCKED"

        def tx(conn: Conn) -> list[SagaRecord]:
            ids = [r[0] for r in conn.execute(pick, args).fetchall()]
            return _take(conn, ids, owner, expires)

        return await self.db.transaction(tx)

    async def take(self, saga_id: str, owner: str, expires: float) -> SagaRecord | None:
        """Take one saga's lease whoever holds it (an operator's resume); the holder, if any,
        is fenced off from then on."""

        def tx(conn: Conn) -> SagaRecord | None:
            found = _take(conn, [saga_id], owner, expires)
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

        def tx(conn: Conn) -> set[str]:
            held: set[str] = set()
            ids = list(leases)
            for i in range(0, len(ids), 500):
                chunk = ids[i : i + 500]
                rows = conn.execute(
                    "UPDATE saga_leases SET expires=? WHERE owner=?"
                    f" AND saga_id IN ({','.join('?' * len(chunk))}) RETURNING saga_id, epoch",
                    (expires, owner, *chunk),
                ).fetchall()
                held.update(r[0] for r in rows if leases.get(r[0]) == r[1])
            conn.executemany(
                "DELETE FROM saga_leases WHERE saga_id=? AND owner=? AND epoch=?",
                [(i, owner, epoch) for i, epoch in ended],
            )
            return held

        return await self.db.transaction(tx)

    async def expire_leases(self, owner: str | None) -> int:
        """End at once every lease `owner` holds (None: every lease), so claims take those
        sagas: a replica restarting under the same name, or the one process of a SQLite log.
        Returns how many."""

        def tx(conn: Conn) -> int:
            if owner is None:
                return int(conn.execute("UPDATE saga_leases SET expires=0").rowcount)
            return int(
                conn.execute("UPDATE saga_leases SET expires=0 WHERE owner=?", (owner,)).rowcount
            )

        return await self.db.transaction(tx)

    async def release(self, owner: str, saga_ids: Sequence[str]) -> None:
        """Give up leases (a replica stopping): other replicas may claim them at once."""
        if not saga_ids:
            return

        def tx(conn: Conn) -> None:
            conn.executemany(
                "DELETE FROM saga_leases WHERE saga_id=? AND owner=?",
                [(i, owner) for i in saga_ids],
            )

        await self.db.transaction(tx)

    async def owner(self, saga_id: str) -> tuple[str, float] | None:
        """Who holds the saga's lease and until when (seconds since the epoch), if anyone."""
        row = await self.db.read(
            lambda c: c.execute(
                "SELECT owner, expires FROM saga_leases WHERE saga_id=?", (saga_id,)
            ).fetchone()
        )
        return (row[0], float(row[1])) if row else None

    async def page(
        self, status: SagaStatus | None, limit: int, after: tuple[str, str] | None = None
    ) -> Page:
        """Newest first, by keyset: a page starts after the (created_at, saga_id) the previous
        one ended with, so sagas created meanwhile neither shift nor repeat later pages."""

        def q(conn: Conn) -> Page:
            where, args = ("status=?", [status.value]) if status else ("1=1", [])
            total = _total(conn, status)
            if after is not None:
                # A row value: one range on the keyset index (an OR of two made SQLite sort
                # every saga before the page).
                where += " AND (created_at, saga_id) < (?, ?)"
                args = [*args, after[0], after[1]]
            sagas = _load(
                conn,
                f"{where} ORDER BY created_at DESC, saga_id DESC LIMIT ?",
                [*args, limit + 1],
            )
            more = len(sagas) > limit
            sagas = sagas[:limit]
            last = (sagas[-1].created_at, sagas[-1].saga_id) if more else None
            return Page(sagas, int(total), last)

        return await self.db.read(q)

    async def events(self, saga_id: str, after_seq: int = 0) -> list[SagaEvent]:
        def q(conn: Conn) -> list[SagaEvent]:
            rows = conn.execute(
                "SELECT * FROM saga_events WHERE saga_id=? AND seq>? ORDER BY seq",
                (saga_id, after_seq),
            ).fetchall()
            return [
                SagaEvent(
                    saga_id=r["saga_id"],
                    seq=r["seq"],
                    type=SagaEventType(r["type"]),
                    status=SagaStatus(r["status"]),
                    step=r["step"],
                    attempt=r["attempt"],
                    message=r["message"],
                    at=r["at"],
                    correlation_id=r["correlation_id"],
                )
                for r in rows
            ]

        return await self.db.read(q)

    async def stats(self) -> dict[str, int]:
        """Sagas by status, their steps by state (`all:<state>`, and `live:<state>` for live
        sagas), and compensations pending: without a scan of the finished sagas."""
        return await self.db.read(_stats)

    async def prune(self, finished_before: str, limit: int) -> Pruned | None:
        """Retention: delete up to `limit` sagas that finished (COMPLETED or COMPENSATED)
        before `finished_before` (an ISO timestamp), oldest first, with their steps, events,
        outbox and lease rows, in one transaction. FAILED sagas stay (an operator's). None:
        another replica is pruning this log right now."""

        def tx(conn: Conn) -> Pruned | None:
            if self.shared:
                got = conn.execute("SELECT pg_try_advisory_xact_lock(?)", (PRUNE_LOCK,))
                if not got.fetchone()[0]:
                    return None
            ids: list[str] = []
            for status in _FINISHED_VALUES:
                # finished_at >= created_at: the range on the status index bounds the scan.
                ids += [
                    r[0]
                    for r in conn.execute(
                        "SELECT saga_id FROM sagas WHERE status=? AND created_at < ?"
                        " AND finished_at < ? ORDER BY created_at LIMIT ?",
                        (status, finished_before, finished_before, limit - len(ids)),
                    )
                ]
                if len(ids) >= limit:
                    break
            if not ids:
                return Pruned(0, 0, Counter())
            marks = ",".join("?" * len(ids))
            gone: Counter[str] = Counter()
            for key, n in conn.execute(
                f"SELECT status, COUNT(*) FROM sagas WHERE saga_id IN ({marks}) GROUP BY status",
                ids,
            ):
                gone[key] += n
            for state, n in conn.execute(
                f"SELECT state, COUNT(*) FROM saga_steps WHERE saga_id IN ({marks}) GROUP BY state",
                ids,
            ):
                gone[f"all:{state}"] += n
            conn.executemany(_COUNT, [(PRUNE_STRIPE, k, -n) for k, n in gone.items()])
            unsunk = conn.execute(f"DELETE FROM saga_outbox WHERE saga_id IN ({marks})", ids)
            outbox = max(0, unsunk.rowcount)
            for table in ("saga_events", "saga_steps", "saga_leases", "sagas"):
                conn.execute(f"DELETE FROM {table} WHERE saga_id IN ({marks})", ids)
            return Pruned(len(ids), outbox, gone)

        return await self.db.transaction(tx)


def _stats(conn: Conn) -> dict[str, int]:
    out = {s.value: 0 for s in SagaStatus}
    for key, n in conn.execute("SELECT key, SUM(n) FROM saga_counts GROUP BY key"):
        out[key] = out.get(key, 0) + int(n)
    out["compensations_pending"] = 0
    for status, state, uncertain, n in conn.execute(
        "SELECT s.status, st.state, st.uncertain, COUNT(*) FROM sagas s"
        " JOIN saga_steps st ON st.saga_id = s.saga_id"
        f" WHERE s.status IN ({_UNFINISHED_MARKS}) GROUP BY s.status, st.state, st.uncertain",
        _UNFINISHED,
    ):
        out[f"all:{state}"] = out.get(f"all:{state}", 0) + n
        if status in _LIVE_VALUES:
            out[f"live:{state}"] = out.get(f"live:{state}", 0) + n
        if status in _OWES_IN and (state in _OWES or (state == "STEP_FAILED" and uncertain)):
            out["compensations_pending"] += n
    for status, n in conn.execute(
        f"SELECT status, COUNT(*) FROM sagas WHERE status IN ({_UNFINISHED_MARKS}) GROUP BY status",
        _UNFINISHED,
    ):
        out[status] = n
    return out


def _total(conn: Conn, status: SagaStatus | None) -> int:
    """How many sagas (of `status`) the log holds, without scanning the finished ones."""
    finished = [s for s in _FINISHED_VALUES if status is None or status.value == s]
    n = 0
    if finished:
        row = conn.execute(
            f"SELECT SUM(n) FROM saga_counts WHERE key IN ({','.join('?' * len(finished))})",
            finished,
        ).fetchone()
        n += int(row[0] or 0)
    unfinished = [s for s in _UNFINISHED if status is None or status.value == s]
    if unfinished:
        row = conn.execute(
            f"SELECT COUNT(*) FROM sagas WHERE status IN ({','.join('?' * len(unfinished))})",
            unfinished,
        ).fetchone()
        n += int(row[0])
    return n
