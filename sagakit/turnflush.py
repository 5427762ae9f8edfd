"""Work batched to the end of the event loop's current turn: many requests, one run.

Both the services' stderr and the orchestrator's bookings log write what piled up during a turn
in one write at its end (call_soon), so the write happens before the loop next waits on
anything, and one system call carries many lines (bench/README.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class FlushAtEndOfTurn:
    """Runs `flush` once at the end of the current turn of the loop that asks for it."""

    def __init__(self, flush: Callable[[], None]) -> None:
        self._flush = flush
        # The loop whose turn will run it (None: nothing due).
        self._due_on: asyncio.AbstractEventLoop | None = None

    def request(self, loop: asyncio.AbstractEventLoop) -> None:
        """Have `flush` run at the end of `loop`'s current turn (once, however often asked)."""
        if loop is self._due_on:
            return
        if self._due_on is not None:
            # Due on another loop, which may have stopped before its turn ended: now.
            self.run()
        self._due_on = loop
        loop.call_soon(self.run)

    def run(self) -> None:
        """Run `flush` now; what was due is then done."""
        self._due_on = None
        self._flush()
