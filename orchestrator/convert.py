"""Saga log records -> the Orchestrator API's protobuf messages, and their JSON."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from google.protobuf import struct_pb2

from flightsaga.v1 import orchestrator_pb2 as pb
from orchestrator.doors import SagaDoor
from orchestrator.engine.model import SagaEvent, SagaRecord, StepRecord
from orchestrator.telemetry.tracing import saga_trace_hex
from sagakit.plainjson import ints_for_whole_floats, plain
from sagakit.timestamps import set_ts


def _set_ts(message: Any, field: str, iso: str | None) -> None:
    if iso:
        set_ts(getattr(message, field), iso)


def _struct(values: dict[str, Any] | None) -> struct_pb2.Struct | None:
    if values is None:
        return None
    out = struct_pb2.Struct()
    out.update(values)
    return out


def step_to_proto(st: StepRecord, results: bool = True) -> pb.StepRecord:
    """`results`: with the step's result and compensation result (Structs)."""
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
    if results and (result := _struct(st.result)) is not None:
        msg.result.CopyFrom(result)
    if results and (comp := _struct(st.compensation_result)) is not None:
        msg.compensation_result.CopyFrom(comp)
    if st.started_at and st.finished_at:
        delta = datetime.fromisoformat(st.finished_at) - datetime.fromisoformat(st.started_at)
        msg.duration_ms = max(0, int(delta.total_seconds() * 1000))
    return msg


def saga_to_proto(
    saga: SagaRecord, door: SagaDoor | None, replayed: bool = False, results: bool = True
) -> pb.Saga:
    """`door`: the saga's (orchestrator.doors), which shows its input and facts; None for a
    saga this orchestrator no longer serves. `results`: with the steps' results."""
    msg = pb.Saga(
        saga_id=saga.saga_id,
        correlation_id=saga.correlation_id,
        status=pb.SagaStatus.Value(saga.status.value),
        steps=[step_to_proto(st, results) for st in saga.steps],
        compensation_order=saga.compensation_order,
        error=saga.error,
        failed_step=saga.failed_step,
        error_reason=saga.error_reason,
        idempotency_key=saga.idempotency_key,
        replayed=replayed,
        fault_plan=saga.options,
        trace_id=saga_trace_hex(saga.saga_id),
        saga=saga.definition,
        saga_version=saga.definition_version,
    )
    if door is not None:
        door.fill(saga, msg)
    _set_ts(msg, "created_at", saga.created_at)
    _set_ts(msg, "updated_at", saga.updated_at)
    _set_ts(msg, "finished_at", saga.finished_at)
    if saga.cancel is not None:
        msg.cancelled_by = saga.cancel.by
        msg.cancel_reason = saga.cancel.reason
        _set_ts(msg, "cancelled_at", saga.cancel.at)
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


# ---- the Saga message's JSON: the bookings log's line ---------------------------------------
# The message's own proto3 JSON (sagakit.plainjson: every number a number), so the log and the
# API cannot drift apart. The steps' results are the one exception: they are the participants'
# replies as the saga log keeps them (JSON already), so they go in as they are, in their field's
# place, instead of through a Struct and back (a Struct is a map: its keys would come out in
# hash order, not in the order the participant replied them), and the round trip through a
# Struct is the line's largest cost.

# StepRecord's fields in the order proto3 JSON writes them (by field number).
_STEP_FIELDS = tuple(
    f.name for f in sorted(pb.StepRecord.DESCRIPTOR.fields, key=lambda f: f.number)
)
_RESULTS = ("result", "compensation_result")


def _step_json(step: dict[str, Any], st: StepRecord) -> dict[str, Any]:
    given = {k: ints_for_whole_floats(v) for k in _RESULTS if (v := getattr(st, k)) is not None}
    if not given:
        return step
    return {k: given[k] if k in given else step[k] for k in _STEP_FIELDS if k in step or k in given}


def saga_json(saga: SagaRecord, door: SagaDoor | None, replayed: bool = False) -> dict[str, Any]:
    """saga_to_proto(saga) as proto3 JSON (original field names), as a dict for json.dumps."""
    out = plain(saga_to_proto(saga, door, replayed, results=False))
    if "steps" in out:
        out["steps"] = [_step_json(d, st) for d, st in zip(out["steps"], saga.steps, strict=True)]
    return out


def saga_json_line(saga: SagaRecord, door: SagaDoor | None) -> str:
    """One line of JSON: the bookings log's record of a finished saga."""
    out = saga_json(saga, door)
    for omitted in door.log_omits if door is not None else ():
        out.pop(omitted, None)
    return json.dumps(out, separators=(", ", ": "))
