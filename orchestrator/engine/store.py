"""The saga log: SQLite tables for sagas, their step queue and their events.

Every transition is one transaction (saga row + changed step rows + one event), written before
the participant call it announces and again with its outcome. The log is the truth; the
runner's objects are a cache.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.engine.model import (
    FINISHED,
    LIVE,
    SagaEvent,
    SagaRecord,
    SagaStatus,
    StepRecord,
    StepState,
)
from sagakit.db import Conn, Database, connect
from sagakit.migrate import Migrations

_SAGA_COLS = (
    "saga_id, definition, correlation_id, status, payload, idempotency_key, fault_plan,"
    " created_at, updated_at, finished_at, deadline_at, error, compensation_order, event_seq"
)
_STEP_COLS = (
    "saga_id, idx, name, state, attempts, compensation_attempts, compensation_round, uncertain,"
    " started_at, finished_at, compensation_started_at, compensated_at, result, error,"
    " compensation_result, compensation_error"
)


# One transition's writes, ready to run inside a transaction.
Write = Callable[[Conn], None]

_UPDATE_SAGA = (
    "UPDATE sagas SET status=?, fault_plan=?, updated_at=?, finished_at=?, error=?,"
    " compensation_order=?, event_seq=? WHERE saga_id=?"
)
_UPDATED = (3, 6, 8, 9, 11, 12, 13)  # the _saga_row fields a transition may change, in order
_STEP_UPDATED = [c.strip() for c in _STEP_COLS.split(",")][2:]  # all but the key
_UPSERT_STEP = (
    f"INSERT INTO saga_steps ({_STEP_COLS}) VALUES ({','.join('?' * 16)})"
    " ON CONFLICT (saga_id, idx) DO UPDATE SET "
    + ", ".join(f"{c}=excluded.{c}" for c in _STEP_UPDATED)
)
_OUTBOX = (
    "INSERT INTO saga_outbox (saga_id, status) VALUES (?, ?)"
    " ON CONFLICT (saga_id) DO UPDATE SET status=excluded.status"
)
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
    )


def _insert_event(conn: Conn, e: SagaEvent) -> None:
    conn.execute(
        "INSERT INTO saga_events (saga_id, seq, type, step, attempt, message, at, status,"
        " correlation_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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


@dataclass(frozen=True)
class Page:
    sagas: list[SagaRecord]
    total: int
    # Where the next page starts: the last saga's (created_at, saga_id), or None at the end.
    after: tuple[str, str] | None


MIGRATIONS = Migrations("orchestrator", marker_table="sagas")


class SagaStore:
    def __init__(self, target: Path | str, synchronous: str = "FULL", outbox: bool = False) -> None:
        """`target`: a DATABASE_URL, or a SQLite file. `outbox`: record terminal sagas for a
        sink (the saga_outbox table)."""
        url = target if isinstance(target, str) else f"sqlite:///{target}"
        self.db: Database = connect(url, MIGRATIONS, synchronous)
        self.outbox = outbox

    async def open(self) -> None:
        await self.db.open()

    async def close(self) -> None:
        await self.db.close()

    async def create(
        self, saga: SagaRecord, event: SagaEvent, *later: SagaEvent
    ) -> tuple[SagaRecord, bool]:
        """Insert a new saga with its events (the start, then any `later` ones: its first
        step's start), or return the existing one with the same idempotency key."""

        def tx(conn: Conn) -> tuple[SagaRecord, bool]:
            if saga.idempotency_key:
                found = _load(conn, "idempotency_key=?", (saga.idempotency_key,))
                if found:
                    return found[0], False
            conn.execute(
                f"INSERT INTO sagas ({_SAGA_COLS}) VALUES ({','.join('?' * 14)})", _saga_row(saga)
            )
            conn.executemany(
                f"INSERT INTO saga_steps ({_STEP_COLS}) VALUES ({','.join('?' * 16)})",
                [_step_row(saga.saga_id, st) for st in saga.steps],
            )
            for e in (event, *later):
                _insert_event(conn, e)
            return saga, True

        return await self.db.transaction(tx)

    def transition(
        self, saga: SagaRecord, steps: Iterable[StepRecord], event: SagaEvent | None
    ) -> Write:
        """One transition's writes, its rows taken as they are now; run them in a transaction
        (see save's `earlier`)."""
        saga_row = _saga_row(saga)
        update = (*(saga_row[i] for i in _UPDATED), saga.saga_id)
        step_rows = [_step_row(saga.saga_id, st) for st in steps]
        finished = saga.status in FINISHED
        outbox = (saga.saga_id, saga.status.value) if self.outbox and finished else None

        def write(conn: Conn) -> None:
            conn.execute(_UPDATE_SAGA, update)
            if step_rows:
                conn.executemany(_UPSERT_STEP, step_rows)
            if event is not None:
                _insert_event(conn, event)
            if outbox is not None:
                conn.execute(_OUTBOX, outbox)

        return write

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

        def tx(conn: Conn) -> None:
            for write in earlier:
                write(conn)
            own(conn)

        await self.db.transaction(tx)

    def save_soon(self, writes: Sequence[Write]) -> asyncio.Future[None]:
        """Commit held-back transitions without waiting (a driver stopping before its next
        transition). Any failure is left to the future."""

        def tx(conn: Conn) -> None:
            for write in writes:
                write(conn)

        return self.db.submit(tx)

    async def load(self, saga_id: str) -> SagaRecord | None:
        found = await self.db.read(lambda c: _load(c, "saga_id=?", (saga_id,)))
        return found[0] if found else None

    async def load_live(self) -> list[SagaRecord]:
        marks = ",".join("?" * len(LIVE))
        return await self.db.read(
            lambda c: _load(c, f"status IN ({marks}) ORDER BY created_at", [s.value for s in LIVE])
        )

    async def unsunk(self) -> tuple[list[str], str]:
        """Terminal sagas the sink may not have, and the sink's checkpoint."""

        def q(conn: Conn) -> tuple[list[str], str]:
            ids = [r[0] for r in conn.execute("SELECT saga_id FROM saga_outbox")]
            row = conn.execute(
                "SELECT value FROM engine_meta WHERE key=?", (SINK_CHECKPOINT,)
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
                (SINK_CHECKPOINT, checkpoint),
            )

        await self.db.transaction(tx)

    async def live_ids(self, idle_since: str) -> list[str]:
        """Ids of live sagas whose last transition is older than `idle_since`."""
        marks = ",".join("?" * len(LIVE))
        return await self.db.read(
            lambda c: [
                r[0]
                for r in c.execute(
                    f"SELECT saga_id FROM sagas WHERE status IN ({marks}) AND updated_at < ?",
                    [*(s.value for s in LIVE), idle_since],
                )
            ]
        )

    async def page(
        self, status: SagaStatus | None, limit: int, after: tuple[str, str] | None = None
    ) -> Page:
        """Newest first, by keyset: a page starts after the (created_at, saga_id) the previous
        one ended with, so sagas created meanwhile neither shift nor repeat later pages."""

        def q(conn: Conn) -> Page:
            where, args = ("status=?", [status.value]) if status else ("1=1", [])
            total = conn.execute(f"SELECT COUNT(*) FROM sagas WHERE {where}", args).fetchone()[0]
            if after is not None:
                where += " AND (created_at < ? OR (created_at = ? AND saga_id < ?))"
                args = [*args, after[0], after[0], after[1]]
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
                    type=r["type"],
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
        def q(conn: Conn) -> dict[str, int]:
            out = {s.value: 0 for s in SagaStatus}
            for status, n in conn.execute("SELECT status, COUNT(*) FROM sagas GROUP BY status"):
                out[status] = n
            live = ",".join("?" * len(LIVE))
            for state, n in conn.execute(
                "SELECT st.state, COUNT(*) FROM saga_steps st JOIN sagas s USING (saga_id)"
                f" WHERE s.status IN ({live}) GROUP BY st.state",
                [s.value for s in LIVE],
            ):
                out[f"live:{state}"] = n
            for state, n in conn.execute("SELECT state, COUNT(*) FROM saga_steps GROUP BY state"):
                out[f"all:{state}"] = n
            out["compensations_pending"] = conn.execute(
                "SELECT COUNT(*) FROM saga_steps st JOIN sagas s USING (saga_id)"
                " WHERE s.status IN ('COMPENSATING', 'FAILED') AND (st.state IN"
                " ('SUCCEEDED', 'UNKNOWN_OUTCOME', 'COMPENSATING_STEP', 'COMPENSATION_FAILED')"
                " OR (st.state = 'STEP_FAILED' AND st.uncertain = 1))"
            ).fetchone()[0]
            return out

        return await self.db.read(q)
