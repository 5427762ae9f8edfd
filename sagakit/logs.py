"""A service's logging: every line stamped with its correlation, trace and saga ids, written to
stderr in the chosen format (sagakit.logformat), and kept per saga for the Logs RPC
(sagakit.logstore).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from typing import Any

from opentelemetry import trace

from sagakit import context
from sagakit.logformat import ConsoleFormatter, JsonFormatter
from sagakit.logstore import keep_saga_lines
from sagakit.turnflush import FlushAtEndOfTurn

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


class BatchedStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """stderr, one write per event-loop turn instead of one per line.

    A write per line makes every line a system call, and on a busy service the call lets the
    database thread take the GIL while the loop waits to get it back (bench/README.md). Lines
    logged on the event loop wait in order until the end of the loop's current turn
    (call_soon), so a line is out before the loop next waits on anything; lines from other
    threads, or with no loop running, are written at once, after any still waiting (order is
    kept). flush() (logging's shutdown at exit included) writes what waits."""

    def __init__(self, stream: Any = None) -> None:
        super().__init__(stream)
        self._pending: list[str] = []
        self._turn = FlushAtEndOfTurn(self.flush)

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
    # No line shows its source line, thread, process or task: logging need not look them up
    # for every record (the logging documentation's "Optimization" settings).
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging.logAsyncioTasks = False  # type: ignore[attr-defined]
    handler = BatchedStreamHandler(sys.stderr)
    handler.addFilter(_ServiceFilter(service))
    handler.setFormatter(JsonFormatter() if log_format == "json" else ConsoleFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    keep_saga_lines(service)  # each saga's recent lines, for the Logs RPC (the dashboard)
