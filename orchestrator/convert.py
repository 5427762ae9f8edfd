"""Saga log records -> the Orchestrator API's protobuf messages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.protobuf import struct_pb2

from flightsaga.v1 import orchestrator_pb2 as pb
from orchestrator.booking_saga import masked
from orchestrator.engine.model import SagaEvent, SagaRecord, StepRecord
from sagakit.timestamps import to_ts


def _set_ts(message: Any, field: str, iso: str | None) -> None:
    ts = to_ts(iso)
    if ts is not None:
        getattr(message, field).CopyFrom(ts)


def _struct(values: dict[str, Any] | None) -> struct_pb2.Struct | None:
    if values is None:
        return None
    out = struct_pb2.Struct()
    out.update(values)
    return out


def step_to_proto(st: StepRecord) -> pb.StepRecord:
    msg = pb.StepRecord(
        name=st.name,
        index=st.index,
        state=pb.StepState.Value(st.state.value),
        attempts=st.attempts,
        compensation_attempts=st.compensation_attempts,
        error=st.error,
        compensation_error=st.compensation_error,
    )
    for field in ("started_at", "finished_at", "compensation_started_at", "compensated_at"):
        _set_ts(msg, field, getattr(st, field))
    if (result := _struct(st.result)) is not None:
        msg.result.CopyFrom(result)
    if (comp := _struct(st.compensation_result)) is not None:
        msg.compensation_result.CopyFrom(comp)
    if st.started_at and st.finished_at:
        delta = datetime.fromisoformat(st.finished_at) - datetime.fromisoformat(st.started_at)
        msg.duration_ms = max(0, int(delta.total_seconds() * 1000))
    return msg


def saga_to_proto(saga: SagaRecord, replayed: bool = False) -> pb.Saga:
    request = pb.BookFlightRequest.FromString(saga.payload)
    results = saga.results()
    booking = results.get("confirm_booking", {})
    seats = results.get("reserve_seat", {})
    payment = results.get("process_payment", {})
    msg = pb.Saga(
        saga_id=saga.saga_id,
        correlation_id=saga.correlation_id,
        status=pb.SagaStatus.Value(saga.status.value),
        steps=[step_to_proto(st) for st in saga.steps],
        compensation_order=saga.compensation_order,
        booking_reference=booking.get("booking_reference", "")
        if saga.status == "COMPLETED"
        else "",
        error=saga.error,
        request=masked(request),
        idempotency_key=saga.idempotency_key,
        replayed=replayed,
        fault_plan=saga.fault_plan,
        fare_cents=int(seats.get("fare_cents", 0) or 0),
        amount_charged_cents=int(payment.get("amount_cents", 0) or 0),
        transaction_id=payment.get("transaction_id", ""),
        currency=seats.get("currency", "") or "USD",
    )
    _set_ts(msg, "created_at", saga.created_at)
    _set_ts(msg, "updated_at", saga.updated_at)
    _set_ts(msg, "finished_at", saga.finished_at)
    return msg


def event_to_proto(e: SagaEvent) -> pb.SagaEvent:
    msg = pb.SagaEvent(
        saga_id=e.saga_id,
        seq=e.seq,
        type=pb.SagaEventType.Value(e.type),
        step=e.step,
        attempt=e.attempt,
        message=e.message,
        status=pb.SagaStatus.Value(e.status.value),
        correlation_id=e.correlation_id,
    )
    _set_ts(msg, "at", e.at)
    return msg
