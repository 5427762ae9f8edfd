"""Appends one JSON line per finished saga (its whole timeline) to the bookings log file.

The line is the Saga message's JSON (`convert.saga_json_line`). Lines are written on a writer
thread, so the event loop never waits on the disk; lines that queue up while a write is under
way go out together in the next one.
`append` returns once its line is written (handed to the OS, as before: no fsync), so a saga
reported finished is in the file; lines keep the order in which `append` was called.

It is the runner's TerminalSink: across a kill -9 the file stays complete with no line twice.
The writer remembers where each line not yet cleared from the saga log's outbox starts; the
checkpoint is the start of the oldest of them, so after a kill every line the outbox may be
missing lies past the checkpoint and only that tail is read back.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import deque
from collections.abc import Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

from orchestrator.convert import saga_json_line
from orchestrator.engine.model import SagaRecord

_Pending = tuple[str, bytes, asyncio.AbstractEventLoop, "asyncio.Future[None]"]


def _settle(batch: list[_Pending], error: BaseException | None) -> None:
    """On the caller's loop."""
    for *_, future in batch:
        if future.done():
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)


class BookingsLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bookings-log")
        self._file: BinaryIO | None = None
        self._queue: deque[_Pending] = deque()
        self._lock = threading.Lock()
        self._end = 0  # the file's size after the last write
        # Lines written and not yet cleared from the outbox: saga id -> where its line starts.
        self._uncleared: dict[str, int] = {}

    def _open(self) -> BinaryIO:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("ab")
            self._end = self._file.seek(0, 2)
        return self._file

    def _drain(self) -> None:
        """On the writer thread: write every queued line in one go, then wake their callers."""
        batch: list[_Pending] = []
        while self._queue:
            batch.append(self._queue.popleft())
        if not batch:
            return  # an earlier drain took this call's line
        error: BaseException | None = None
        try:
            file = self._open()
            file.write(b"".join(line for _, line, _, _ in batch))
            file.flush()
            with self._lock:
                at = self._end
                for saga_id, line, _, _ in batch:
                    self._uncleared.setdefault(saga_id, at)
                    at += len(line)
                self._end = at
        except Exception as exc:  # every caller of the batch gets it
            error = exc
        by_loop: dict[asyncio.AbstractEventLoop, list[_Pending]] = {}
        for item in batch:
            by_loop.setdefault(item[2], []).append(item)
        for loop, mine in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle, mine, error)
            except RuntimeError:
                pass  # the caller's loop is closed: nobody is waiting any more

    async def append(self, saga: SagaRecord) -> None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        line = (saga_json_line(saga) + "\n").encode()
        self._queue.append((saga.saga_id, line, loop, future))
        self._executor.submit(self._drain)
        await future

    def checkpoint(self, cleared: Collection[str]) -> str:
        with self._lock:
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
        self._executor.shutdown(wait=True)
        if self._file is not None:
            self._file.close()
            self._file = None
