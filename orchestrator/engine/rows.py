"""Row codecs of the saga log: records to the tuples its tables take, rows back to records."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from orchestrator.engine.model import (
    CancelRequest,
    SagaEvent,
    SagaEventType,
    SagaRecord,
    SagaStatus,
    SagaSubject,
    StepRecord,
    StepState,
)
from sagakit.db import Conn
from sagakit.inserts import Insert

SAGA_COLS = (
    "saga_id, definition, correlation_id, status, payload, idempotency_key, fault_plan,"
    " created_at, updated_at, finished_at, deadline_at, error, compensation_order, event_seq,"
    " lease_epoch, definition_version, owner, customer_id, failed_step, error_reason,"
    " cancelled_by, cancel_reason, cancelled_at"
)
N_SAGA_COLS = 23
STEP_COLS = (
    "saga_id, idx, name, state, attempts, compensation_attempts, compensation_round, uncertain,"
    " started_at, finished_at, compensation_started_at, compensated_at, result, error,"
    " compensation_result, compensation_error"
)


def _dump(value: object) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))


def saga_row(s: SagaRecord) -> tuple[object, ...]:
    return (
        s.saga_id,
        s.definition,
        s.correlation_id,
        s.status.value,
        s.payload,
        s.idempotency_key or None,
        s.options,
        s.created_at,
        s.updated_at,
        s.finished_at,
        s.deadline_at,
        s.error,
        json.dumps(s.compensation_order),
        s.event_seq,
        s.lease_epoch,
        s.definition_version,
        s.subject.owner,
        s.subject.customer_id,
        s.failed_step or None,
        s.error_reason or None,
        s.cancel.by if s.cancel else "",
        s.cancel.reason if s.cancel else "",
        s.cancel.at if s.cancel else None,
    )


def step_row(saga_id: str, st: StepRecord) -> tuple[object, ...]:
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


def step_from(row: Any) -> StepRecord:
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


def saga_from(row: Any, steps: list[StepRecord]) -> SagaRecord:
    return SagaRecord(
        saga_id=row["saga_id"],
        definition=row["definition"],
        correlation_id=row["correlation_id"],
        payload=bytes(row["payload"]),
        steps=steps,
        status=SagaStatus(row["status"]),
        idempotency_key=row["idempotency_key"] or "",
        options=row["fault_plan"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        finished_at=row["finished_at"],
        deadline_at=row["deadline_at"],
        error=row["error"],
        compensation_order=json.loads(row["compensation_order"]),
        event_seq=row["event_seq"],
        lease_epoch=row["lease_epoch"],
        definition_version=row["definition_version"],
        subject=SagaSubject(row["owner"], row["customer_id"]),
        failed_step=row["failed_step"] or "",
        error_reason=row["error_reason"] or "",
        cancel=cancel_from(row),
    )


def cancel_from(row: Any) -> CancelRequest | None:
    """The cancel on a sagas row (its cancelled_by, cancel_reason, cancelled_at), if any."""
    if row["cancelled_at"] is None:
        return None
    return CancelRequest(row["cancelled_by"], row["cancel_reason"], row["cancelled_at"])


def event_from(r: Any) -> SagaEvent:
    return SagaEvent(
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


SAGAS = Insert(f"sagas ({SAGA_COLS})", N_SAGA_COLS)
STEPS = Insert(f"saga_steps ({STEP_COLS})", 16)
FLIGHTS = Insert("saga_flights (flight_id, created_at, saga_id)", 3)
EVENTS = Insert(
    "saga_events (saga_id, seq, type, step, attempt, message, at, status, correlation_id,"
    " lease_epoch)",
    10,
)


def event_row(e: SagaEvent, epoch: int) -> tuple[object, ...]:
    return (
        e.saga_id,
        e.seq,
        e.type.value,
        e.step,
        e.attempt,
        e.message,
        e.at,
        e.status.value,
        e.correlation_id,
        epoch,
    )


def load(conn: Conn, where: str, args: Iterable[object]) -> list[SagaRecord]:
    rows = conn.execute(f"SELECT {SAGA_COLS} FROM sagas WHERE {where}", tuple(args)).fetchall()
    out = []
    for row in rows:
        steps = [
            step_from(r)
            for r in conn.execute(
                f"SELECT {STEP_COLS} FROM saga_steps WHERE saga_id=? ORDER BY idx",
                (row["saga_id"],),
            )
        ]
        out.append(saga_from(row, steps))
    return out
