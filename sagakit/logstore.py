"""The recent log lines of each saga, kept in memory and served by every service (Logs RPC), so
the dashboard can show one saga's lines from every service without a shared log store.

Bounded: the lines of the last MAX_SAGAS sagas, at most MAX_LINES each (the newest kept).
"""

from __future__ import annotations

import logging
from collections import OrderedDict, deque
from dataclasses import dataclass

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from flightsaga.v1 import logs_pb2, logs_pb2_grpc
from sagakit import validate
from sagakit.logformat import ConsoleFormatter

MAX_SAGAS = 2000
MAX_LINES = 200


@dataclass(frozen=True)
class _Line:
    created: float
    service: str
    level: str
    text: str


class SagaLines(logging.Handler):
    """A logging handler keeping each saga's formatted lines."""

    def __init__(self) -> None:
        super().__init__()
        self._sagas: OrderedDict[str, deque[_Line]] = OrderedDict()
        self._dropped: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        saga = getattr(record, "saga_id", "-")
        if not saga or saga == "-":
            return
        try:
            text = self.format(record)
        except Exception:
            return
        lines = self._sagas.get(saga)
        if lines is None:
            lines = self._sagas[saga] = deque(maxlen=MAX_LINES)
            while len(self._sagas) > MAX_SAGAS:
                old, _ = self._sagas.popitem(last=False)
                self._dropped.discard(old)
        else:
            self._sagas.move_to_end(saga)
        if len(lines) == MAX_LINES:
            self._dropped.add(saga)
        service = getattr(record, "service", "") or record.name.split(".")[0]
        lines.append(_Line(record.created, service, record.levelname, text))

    def lines(self, saga_id: str) -> tuple[list[_Line], bool]:
        return list(self._sagas.get(saga_id, ())), saga_id in self._dropped


class LogsServicer(logs_pb2_grpc.LogsServicer):
    """This service's lines of a saga (where one process runs several services, as tests do,
    the store holds all of theirs)."""

    def __init__(self, store: SagaLines, service: str) -> None:
        self.store = store
        self.service = service

    async def GetSagaLogs(
        self, request: logs_pb2.GetSagaLogsRequest, context: grpc.aio.ServicerContext
    ) -> logs_pb2.SagaLogs:
        saga_id = validate.saga_id(request.saga_id)
        lines, truncated = self.store.lines(saga_id)
        out = logs_pb2.SagaLogs(truncated=truncated)
        for line in lines:
            if line.service != self.service:
                continue
            at = Timestamp()
            at.FromNanoseconds(int(line.created * 1e9))
            out.lines.append(
                logs_pb2.LogLine(at=at, service=line.service, level=line.level, text=line.text)
            )
        return out


SERVICE_NAME = logs_pb2.DESCRIPTOR.services_by_name["Logs"].full_name


class _NameService(logging.Filter):
    """The service of a line: set by setup_logging's filter in a service process; in a process
    running several services (tests), the first part of the logger's name."""

    def __init__(self, service: str | None) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        if self.service:
            record.service = self.service
        elif not hasattr(record, "service"):
            record.service = record.name.split(".")[0]
        return True


_store: SagaLines | None = None


def keep_saga_lines(service: str | None = None) -> SagaLines:
    """The process's store of saga lines, attached to the root logger (once)."""
    global _store
    if _store is None:
        _store = SagaLines()
        _store.setFormatter(ConsoleFormatter())
    if service:
        _store.filters[:] = [_NameService(service)]
    elif not _store.filters:
        _store.addFilter(_NameService(None))
    root = logging.getLogger()
    if _store not in root.handlers:
        # At the root logger's level (LOG_LEVEL): the window holds what the service logs.
        root.addHandler(_store)
    return _store
