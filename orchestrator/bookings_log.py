"""Appends one JSON line per finished saga (its whole timeline) to the bookings log file."""

from __future__ import annotations

import asyncio
from pathlib import Path

from google.protobuf import json_format

from orchestrator.convert import saga_to_proto
from orchestrator.engine.model import SagaRecord


class BookingsLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = asyncio.Lock()

    def _append(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")

    async def append(self, saga: SagaRecord) -> None:
        line = json_format.MessageToJson(
            saga_to_proto(saga), indent=None, preserving_proto_field_name=True
        )
        async with self._lock:
            await asyncio.to_thread(self._append, line)
