"""Saga events as console log lines, in the services' format with the original markers
([SAGA], [SAGA STEP], [COMPENSATION]). No I/O here."""

from __future__ import annotations

from datetime import UTC

from flightsaga.v1 import orchestrator_pb2

_MARKERS = {
    "SAGA_STARTED": ("[SAGA]", "INFO"),
    "SAGA_COMPLETED": ("[SAGA]", "INFO"),
    "SAGA_COMPENSATED": ("[SAGA]", "WARNING"),
    "SAGA_FAILED": ("[SAGA]", "ERROR"),
    "SAGA_RESUMED": ("[SAGA]", "WARNING"),
    "STEP_STARTED": ("[SAGA STEP]", "INFO"),
    "STEP_SUCCEEDED": ("[SAGA STEP]", "INFO"),
    "STEP_RETRYING": ("[SAGA STEP]", "WARNING"),
    "STEP_FAILED_EVENT": ("[SAGA STEP]", "ERROR"),
    "COMPENSATION_STARTED": ("[COMPENSATION]", "INFO"),
    "COMPENSATION_SUCCEEDED": ("[COMPENSATION]", "INFO"),
    "COMPENSATION_RETRYING": ("[COMPENSATION]", "WARNING"),
}


def event_log_line(event: orchestrator_pb2.SagaEvent) -> str:
    """One saga event as a console log line, in the services' format and the original markers."""
    kind = orchestrator_pb2.SagaEventType.Name(event.type)
    marker, level = _MARKERS.get(kind, ("[SAGA]", "INFO"))
    at = event.at.ToDatetime(UTC)
    when = at.isoformat(timespec="milliseconds") if event.HasField("at") else "-"
    parts = [
        f"{when} {level:<7} orchestrator cid={event.correlation_id or '-'} saga={event.saga_id}",
        marker,
        kind.removesuffix("_EVENT").lower(),
    ]
    if event.step:
        parts.append(f"step={event.step}")
    if event.attempt:
        parts.append(f"attempt={event.attempt}")
    parts.append(f"status={orchestrator_pb2.SagaStatus.Name(event.status)}")
    if event.message:
        parts.append(f"- {event.message}")
    return " ".join(parts)
