"""One OpenTelemetry trace per saga, fed by the runner's observer hooks.

The saga's trace and root span ids are derived from its saga id, so every process that drives
the saga (after a crash, on another replica, after an operator's resume) puts its spans in the
same trace under the same root, with nothing more stored in the saga log.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable
from datetime import datetime
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.status import Status, StatusCode

from orchestrator.engine.model import TERMINAL, SagaEvent, SagaRecord, SagaStatus
from orchestrator.engine.observer import Attempt, Resumed, SagaObserver
from orchestrator.participant_calls import faults, underlying
from orchestrator.telemetry.metrics import outcome_of
from sagakit.errors import details_of
from sagakit.tracing import chosen_ids

_HEX = frozenset("0123456789abcdef")


def saga_trace_id(saga_id: str) -> int:
    """The saga's trace id: its saga id, when that is a UUID's 128 bits; any other id hashed to 128
    bits. The root span's id is derived from the saga id too (`_root_span_id`)."""
    if len(saga_id) == 32 and set(saga_id) <= _HEX and int(saga_id, 16):
        return int(saga_id, 16)
    return int.from_bytes(hashlib.sha256(saga_id.encode()).digest()[:16], "big") or 1


def saga_trace_hex(saga_id: str) -> str:
    """The saga's trace id as W3C writes it (32 hex digits): what GetSaga and the logs show."""
    return format(saga_trace_id(saga_id), "032x")


def _root_span_id(saga_id: str) -> int:
    return int.from_bytes(hashlib.sha256(f"root:{saga_id}".encode()).digest()[:8], "big") or 1


def _ns(timestamp: str | None) -> int | None:
    return int(datetime.fromisoformat(timestamp).timestamp() * 1e9) if timestamp else None


class SagaTracer(SagaObserver):
    """The saga's spans, from the runner's observer hooks.

    Under the root: a span per Do and per Compensate attempt (the gRPC client span of the
    participant call, and the participant's own server span, below it), and short spans
    marking a start, a recovery, an adoption or a resume. The root span itself is exported when the
    saga ends, spanning its whole life.

    The caller's own trace (the BookFlight call's `traceparent`) is a different trace, one a
    client may use for many bookings: the saga's start span links to it, and the BookFlight span
    carries the saga id and the saga's trace id."""

    def __init__(self, tracer: trace.Tracer) -> None:
        self.tracer = tracer

    def _root(self, saga: SagaRecord) -> otel_context.Context:
        root = SpanContext(
            saga_trace_id(saga.saga_id),
            _root_span_id(saga.saga_id),
            is_remote=True,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
        )
        return trace.set_span_in_context(NonRecordingSpan(root), otel_context.Context())

    def _attrs(self, saga: SagaRecord) -> dict[str, Any]:
        return {
            "flightsaga.saga_id": saga.saga_id,
            "flightsaga.correlation_id": saga.correlation_id,
            "flightsaga.saga.status": saga.status.value,
        }

    def _mark(self, saga: SagaRecord, name: str, **extra: Any) -> None:
        """A short span under the saga's root, linked to the call that caused it (if any)."""
        caller = trace.get_current_span()
        links = [Link(caller.get_span_context())] if caller.get_span_context().is_valid else []
        span = self.tracer.start_span(
            name, context=self._root(saga), links=links, attributes={**self._attrs(saga), **extra}
        )
        span.end()
        if caller.is_recording():
            caller.set_attribute("flightsaga.saga_id", saga.saga_id)
            caller.set_attribute("flightsaga.saga_trace_id", saga_trace_hex(saga.saga_id))

    def saga_started(self, saga: SagaRecord) -> None:
        self._mark(saga, "saga started", **{"flightsaga.options": saga.options})

    def saga_resumed(self, saga: SagaRecord, how: Resumed) -> None:
        name = {"recovered": "saga recovered after a restart", "adopted": "saga adopted"}
        self._mark(saga, name.get(how, "saga resumed by an operator"), **{"flightsaga.how": how})

    def saga_changed(self, saga: SagaRecord, event: SagaEvent) -> None:
        if event.status not in TERMINAL or not event.type.startswith("SAGA_"):
            return
        with chosen_ids(saga_trace_id(saga.saga_id), _root_span_id(saga.saga_id)):
            span = self.tracer.start_span(
                f"saga {saga.definition}",
                context=otel_context.Context(),
                start_time=_ns(saga.created_at),
                attributes={
                    **self._attrs(saga),
                    "flightsaga.saga.error": saga.error,
                    "flightsaga.compensated": ",".join(saga.compensation_order),
                },
            )
        if saga.status != SagaStatus.COMPLETED:
            span.set_status(Status(StatusCode.ERROR, saga.error[:200]))
        span.end(end_time=_ns(saga.finished_at))

    async def attempt(self, call: Attempt, run: Awaitable[Any]) -> Any:
        attrs: dict[str, str | int] = {
            "flightsaga.saga_id": call.saga.saga_id,
            "flightsaga.step": call.step,
            "flightsaga.op": call.op,
            "flightsaga.attempt": call.attempt,
            "flightsaga.fault": ",".join(
                f"{k}={v}"
                for k, v in faults(call.saga.options, call.step, call.op == "Do", call.attempt)
            ),
        }
        with self.tracer.start_as_current_span(
            f"{call.op} {call.step}",
            context=self._root(call.saga),
            kind=SpanKind.INTERNAL,
            attributes=attrs,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            if call.attempt > 1:
                span.add_event("retry", {"flightsaga.attempt": call.attempt})
            try:
                result = await run
            except BaseException as exc:
                span.set_attribute("flightsaga.outcome", outcome_of(exc))
                reason = details_of(underlying(exc)).reason
                if reason:
                    span.set_attribute("flightsaga.error.reason", reason)
                span.set_status(Status(StatusCode.ERROR, str(exc)[:200]))
                raise
            span.set_attribute("flightsaga.outcome", "OK")
            return result
