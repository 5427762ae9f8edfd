"""Saga log records -> the Orchestrator API's protobuf messages."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from google.protobuf import struct_pb2

from flightsaga.v1 import orchestrator_pb2 as pb
from orchestrator.booking_saga import facts, masked
from orchestrator.engine.model import SagaEvent, SagaRecord, StepRecord
from orchestrator.telemetry.tracing import saga_trace_hex
from sagakit.plainjson import plain, wholes
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
    f = facts(saga.results(), saga.status == "COMPLETED")
    msg = pb.Saga(
        saga_id=saga.saga_id,
        correlation_id=saga.correlation_id,
        status=pb.SagaStatus.Value(saga.status.value),
        steps=[step_to_proto(st) for st in saga.steps],
        compensation_order=saga.compensation_order,
        booking_reference=f.booking_reference,
        error=saga.error,
        request=masked(request),
        idempotency_key=saga.idempotency_key,
        replayed=replayed,
        fault_plan=saga.fault_plan,
        fare_cents=f.fare_cents,
        amount_charged_cents=f.amount_charged_cents,
        transaction_id=f.transaction_id,
        currency=f.currency,
        trace_id=saga_trace_hex(saga.saga_id),
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


# ---- the Saga message's JSON, straight from the record ------------------------------------
# What sagakit.plainjson.plain(saga_to_proto(saga)) gives (proto3 JSON with every number a
# number), built without the protobuf round trip (about a tenth of its CPU): the bookings
# log's line.


def _ts_json(iso: str | None) -> str | None:
    """A Timestamp's JSON form (RFC 3339, UTC, 0/3/6/9 fraction digits) from an ISO string."""
    if not iso:
        return None
    # The saga log's own timestamps: "YYYY-MM-DDTHH:MM:SS.ffffff+00:00".
    if len(iso) == 32 and iso[19] == "." and iso.endswith("+00:00"):
        micros = iso[20:26]
        if micros == "000000":
            return iso[:19] + "Z"
        if micros.endswith("000"):
            return f"{iso[:19]}.{micros[:3]}Z"
        return f"{iso[:26]}Z"
    ts = to_ts(iso)
    return None if ts is None else ts.ToJsonString()


def _struct_json(value: Any) -> Any:
    """A step result as plain() prints its Struct: whole numbers as ints."""
    return wholes(value)


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    """proto3 JSON leaves out fields at their default (empty, zero, unset)."""
    if value:
        out[key] = value


def step_json(st: StepRecord) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _put(out, "name", st.name)
    _put(out, "index", st.index)
    out["state"] = st.state.value
    _put(out, "attempts", st.attempts)
    _put(out, "compensation_attempts", st.compensation_attempts)
    _put(out, "started_at", _ts_json(st.started_at))
    _put(out, "finished_at", _ts_json(st.finished_at))
    _put(out, "compensation_started_at", _ts_json(st.compensation_started_at))
    _put(out, "compensated_at", _ts_json(st.compensated_at))
    if st.result is not None:
        out["result"] = _struct_json(st.result)
    _put(out, "error", st.error)
    if st.compensation_result is not None:
        out["compensation_result"] = _struct_json(st.compensation_result)
    _put(out, "compensation_error", st.compensation_error)
    if st.started_at and st.finished_at:
        delta = datetime.fromisoformat(st.finished_at) - datetime.fromisoformat(st.started_at)
        _put(out, "duration_ms", max(0, int(delta.total_seconds() * 1000)))
    return out


def saga_json(saga: SagaRecord, replayed: bool = False) -> dict[str, Any]:
    """saga_to_proto(saga) as proto3 JSON (original field names), as a dict for json.dumps."""
    request = pb.BookFlightRequest.FromString(saga.payload)
    f = facts(saga.results(), saga.status == "COMPLETED")
    out: dict[str, Any] = {}
    _put(out, "saga_id", saga.saga_id)
    _put(out, "correlation_id", saga.correlation_id)
    out["status"] = saga.status.value
    _put(out, "steps", [step_json(st) for st in saga.steps])
    _put(out, "compensation_order", list(saga.compensation_order))
    _put(out, "booking_reference", f.booking_reference)
    _put(out, "error", saga.error)
    out["request"] = plain(masked(request))
    _put(out, "idempotency_key", saga.idempotency_key)
    _put(out, "replayed", replayed)
    _put(out, "fault_plan", saga.fault_plan)
    _put(out, "created_at", _ts_json(saga.created_at))
    _put(out, "updated_at", _ts_json(saga.updated_at))
    _put(out, "finished_at", _ts_json(saga.finished_at))
    _put(out, "fare_cents", f.fare_cents)
    _put(out, "amount_charged_cents", f.amount_charged_cents)
    _put(out, "transaction_id", f.transaction_id)
    _put(out, "currency", f.currency)
    _put(out, "trace_id", saga_trace_hex(saga.saga_id))
    return out


def saga_json_line(saga: SagaRecord) -> str:
    """One line of JSON: the bookings log's record of a finished saga."""
    return json.dumps(saga_json(saga), separators=(", ", ": "))
