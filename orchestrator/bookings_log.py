"""Appends one JSON line per finished saga (its whole timeline) to the bookings log file.

The line is the Saga message's JSON (`convert.saga_json_line`, built straight from the record,
not through protobuf). Lines are written on a writer thread, so the event loop never waits on
the disk; lines that queue up while a write is under way go out together in the next one.
`append` returns once its line is written (handed to the OS, as before: no fsync), so a saga
reported finished is in the file; lines keep the order in which `append` was called.
"""

from __future__ import annotations

import asyncio
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TextIO

from orchestrator.convert import saga_json_line
from orchestrator.engine.model import SagaRecord

_Pending = tuple[str, asyncio.AbstractEventLoop, "asyncio.Future[None]"]


def _settle(batch: list[_Pending], error: BaseException | None) -> None:
    """On the caller's loop."""
    for _, _, future in batch:
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
        self._file: TextIO | None = None
        self._queue: deque[_Pending] = deque()

    def _drain(self) -> None:
        """On the writer thread: write every queued line in one go, then wake their callers."""
        batch: list[_Pending] = []
        while self._queue:
            batch.append(self._queue.popleft())
        if not batch:
            return  # an earlier drain took this call's line
        error: BaseException | None = None
        try:
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = self.path.open("a", encoding="utf-8")
            self._file.write("".join(line for line, _, _ in batch))
            self._file.flush()
        except Exception as exc:  # every caller of the batch gets it
            error = exc
        by_loop: dict[asyncio.AbstractEventLoop, list[_Pending]] = {}
        for item in batch:
            by_loop.setdefault(item[1], []).append(item)
        for loop, mine in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle, mine, error)
            except RuntimeError:
                pass  # the caller's loop is closed: nobody is waiting any more

    async def append(self, saga: SagaRecord) -> None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._queue.append((saga_json_line(saga) + "\n", loop, future))
        self._executor.submit(self._drain)
        await future

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        if self._file is not None:
            self._file.close()
            self._file = None
