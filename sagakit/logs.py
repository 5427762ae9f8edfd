"""Logging: one line per event, with the date (ISO 8601, UTC offset), the service, the
correlation id, the trace id (when tracing is on) and the saga id.

Console lines keep the original markers ([SAGA], [SAGA STEP], [QUEUE], [COMPENSATION]) in the
message; LOG_FORMAT=json emits one JSON object per line for log shippers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace

from sagakit import context
from sagakit.endofturn import EndOfTurn

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "_console",  # ConsoleFormatter's line, kept on the record
}


_base_factory = logging.getLogRecordFactory()

# Set by a service whose sagas have a trace of their own (the orchestrator, when tracing is
# on): the trace id of a line logged for a saga. Its driver may run in the context of the call
# that started it (another trace, the caller's), so the saga's own trace wins.
saga_trace_id: Callable[[str], str] | None = None


def _trace_id(saga: str) -> str:
    if saga_trace_id is not None and saga != "-":
        return saga_trace_id(saga)
    span = trace.get_current_span().get_span_context()
    return format(span.trace_id, "032x") if span.is_valid else "-"


def _record_with_context(*args: Any, **kwargs: Any) -> logging.LogRecord:
    # Stamped at creation, in the task that logs, so every handler (files, tests) sees the ids.
    record = _base_factory(*args, **kwargs)
    record.correlation_id = context.correlation_id.get()
    record.saga_id = context.saga_id.get()
    record.trace_id = _trace_id(record.saga_id)  # type: ignore[attr-defined]
    return record


if getattr(_base_factory, "__name__", "") != "_record_with_context":
    logging.setLogRecordFactory(_record_with_context)


class _ServiceFilter(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        return True


class ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        # A line goes to stderr and to the saga's window (logstore), both in this format:
        # formatted once (for the service it names), not once per handler.
        service = record.service  # type: ignore[attr-defined]
        done = record.__dict__.get("_console")
        if done is not None and done[0] == service:
            return str(done[1])
        ts = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        line = (
            f"{ts} {record.levelname:<7} {service} "
            f"cid={record.correlation_id} saga={record.saga_id} "  # type: ignore[attr-defined]
            f"trace={getattr(record, 'trace_id', '-')} {record.getMessage()}"
        )
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        record._console = (service, line)  # type: ignore[attr-defined]
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": getattr(record, "service", "-"),
            "logger": record.name,
            "correlation_id": getattr(record, "correlation_id", "-"),
            "trace_id": getattr(record, "trace_id", "-"),
            "saga_id": getattr(record, "saga_id", "-"),
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in doc and key != "service":
                doc[key] = value if isinstance(value, str | int | float | bool) else str(value)
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc)


class BatchedStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """stderr, one write per event-loop turn instead of one per line.

    A write per line made every line a system call, and on a busy service the call let the
    database thread take the GIL, so the loop waited to get it back: INFO logging cost the saga
    engine 0.68 ms per saga, 0.26 written this way (bench/README.md, issue 17). Lines logged on the
    event loop wait in order until the end of the loop's current turn (call_soon), so a line is
    out before the loop next waits on anything; lines from other threads, or with no loop
    running, are written at once, after any still waiting (order is kept). flush() (logging's
    shutdown at exit included) writes what waits."""

    def __init__(self, stream: Any = None) -> None:
        super().__init__(stream)
        self._pending: list[str] = []
        self._turn = EndOfTurn(self.flush)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
        except Exception:
            self.handleError(record)
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        with self.lock:  # type: ignore[union-attr]
            self._pending.append(line)
            if loop is None:
                self._turn.run()  # no loop here: now, after anything still waiting
            else:
                self._turn.request(loop)

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            if self._pending:
                text, self._pending = "".join(self._pending), []
                try:
                    self.stream.write(text)
                    self.stream.flush()
                except Exception:
                    pass  # stderr gone (a closed pipe): nothing to tell it to


def setup_logging(service: str, log_format: str = "console", level: str = "INFO") -> None:
    """Route every logger of the process to stderr in the chosen format."""
    handler = BatchedStreamHandler(sys.stderr)
    handler.addFilter(_ServiceFilter(service))
    handler.setFormatter(JsonFormatter() if log_format == "json" else ConsoleFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    from sagakit.logstore import keep_saga_lines

    keep_saga_lines(service)  # each saga's recent lines, for the Logs RPC (the dashboard)
