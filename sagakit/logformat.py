"""How a log line reads: one line per event, with the date (ISO 8601, UTC offset), the service,
the correlation id, the trace id and the saga id; or (LOG_FORMAT=json) one JSON object per line.

Console lines keep the original markers ([SAGA], [SAGA STEP], [QUEUE], [COMPENSATION]) in the
message. Both stderr (sagakit.logs) and each saga's window (sagakit.logstore) use these.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "_console",  # ConsoleFormatter's line, kept on the record
}


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
