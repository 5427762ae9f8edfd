"""Appends one JSON line per finished saga (its whole timeline) to the bookings log file.

The line is the Saga message's JSON (`convert.saga_json_line`). It is the runner's
TerminalSink: across a kill -9 the file stays complete with no line twice.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import BinaryIO

from orchestrator.convert import saga_json_line
from orchestrator.doors import Doors
from orchestrator.engine.model import SagaRecord
from sagakit.turnflush import FlushAtEndOfTurn

_Pending = tuple[str, bytes, "asyncio.Future[None]"]


class BookingsLog:
    """The bookings log file: one line per finished saga, each written once.

    The lines appended during one turn of the event loop are written together at its end, in one
    write (call_soon). That write goes to the page cache, as the services' log lines on stderr do; a
    writer thread per batch would cost more than the write itself (each hand-off lets another thread
    take the GIL). `append` returns once its line is written (handed to the OS: no fsync), so a saga
    reported finished is in the file; lines keep the order in which `append` was called.

    The writer remembers where each line not yet cleared from the saga log's outbox starts; the
    checkpoint is the start of the oldest of them, so after a kill every line the outbox may be
    missing lies past the checkpoint and only that tail is read back."""

    def __init__(self, path: Path, doors: Doors | None = None) -> None:
        """`doors`: the served sagas' (their input and facts in each line; None: lines
        without them, for sagas the engine alone knows)."""
        self.path = path
        self.doors = doors
        self._file: BinaryIO | None = None
        self._pending: list[_Pending] = []
        self._turn = FlushAtEndOfTurn(self._write_pending)
        self._end = 0  # the file's size after the last write
        # Lines written and not yet cleared from the outbox: saga id -> where its line starts.
        self._uncleared: dict[str, int] = {}

    def _open(self) -> BinaryIO:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("ab")
            self._end = self._file.seek(0, 2)
        return self._file

    def _write_pending(self) -> None:
        """Write every waiting line in one go, then wake their callers."""
        batch, self._pending = self._pending, []
        if not batch:
            return
        error: BaseException | None = None
        try:
            file = self._open()
            file.write(b"".join(line for _, line, _ in batch))
            file.flush()
            at = self._end
            for saga_id, line, _ in batch:
                self._uncleared.setdefault(saga_id, at)
                at += len(line)
            self._end = at
        except Exception as exc:  # every caller of the batch gets it
            error = exc
        for *_, future in batch:
            if future.done():
                continue  # its caller gave up (the line is written all the same)
            try:
                if error is None:
                    future.set_result(None)
                else:
                    future.set_exception(error)
            except RuntimeError:
                pass  # its caller's loop is closed: nobody is waiting any more

    async def append(self, saga: SagaRecord) -> None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        door = self.doors.of(saga) if self.doors is not None else None
        line = (saga_json_line(saga, door) + "\n").encode()
        self._pending.append((saga.saga_id, line, future))
        self._turn.request(loop)
        await future

    def checkpoint(self, cleared: Collection[str]) -> str:
        for saga_id in cleared:
            self._uncleared.pop(saga_id, None)
        if self._file is None and not self._uncleared:
            self._end = self.path.stat().st_size if self.path.exists() else 0
        return str(min(self._uncleared.values(), default=self._end))

    async def missing(self, checkpoint: str, sagas: Sequence[SagaRecord]) -> list[SagaRecord]:
        found = await asyncio.to_thread(self._lines_after, int(checkpoint or 0))
        return [s for s in sagas if (s.saga_id, s.status.value) not in found]

    def _lines_after(self, offset: int) -> set[tuple[str, str]]:
        """(saga id, status) of each whole line from `offset` on; a line torn by a kill in the
        middle of a write is cut off, so the next append starts on a line of its own."""
        if not self.path.exists():
            return set()
        with self.path.open("r+b") as f:
            size = f.seek(0, 2)
            if offset > size:
                offset = 0  # the file was replaced or truncated: read all of it
            f.seek(offset)
            tail = f.read()
            whole = tail.rfind(b"\n") + 1
            if whole < len(tail):
                f.truncate(offset + whole)
        found = set()
        for raw in tail[:whole].splitlines():
            try:
                record = json.loads(raw)
                found.add((str(record["saga_id"]), str(record["status"])))
            except (ValueError, KeyError, TypeError):
                continue  # not a saga line: nothing to match
        return found

    def close(self) -> None:
        if self._pending:  # the loop stopped before its turn ended: the lines still go out
            self._turn.run()
        if self._file is not None:
            self._file.close()
            self._file = None
