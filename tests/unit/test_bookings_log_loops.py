"""The bookings log writes the lines of one event-loop turn at its end: a loop that stops
before its turn ends must not hold back another loop's lines (nor lose its own)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from orchestrator.bookings_log import BookingsLog
from orchestrator.engine.model import SagaRecord, SagaStatus


def _saga(saga_id: str) -> SagaRecord:
    return SagaRecord(
        saga_id=saga_id,
        definition="book_flight",
        correlation_id="c" * 16,
        payload=b"",
        steps=[],
        status=SagaStatus.COMPLETED,
    )


def test_a_stopped_loops_line_is_written_and_the_next_loop_is_not_held(tmp_path: Path) -> None:
    path = tmp_path / "bookings.jsonl"
    log = BookingsLog(path)

    loop = asyncio.new_event_loop()
    tasks = []

    def kick() -> None:
        # This turn starts append; the next one runs it (it queues its line and the turn's
        # write) and stops the loop: the write, due the turn after, never runs on this loop.
        tasks.append(loop.create_task(log.append(_saga("first"))))
        loop.call_soon(loop.stop)

    loop.call_soon(kick)
    loop.run_forever()
    assert not path.exists() or path.read_text() == ""  # not written yet
    tasks[0]._log_destroy_pending = False  # type: ignore[attr-defined]  # it dies with its loop
    loop.close()

    async def second() -> None:
        await asyncio.wait_for(log.append(_saga("second")), timeout=5)

    asyncio.run(second())
    log.close()
    ids = [json.loads(line)["saga_id"] for line in path.read_text().splitlines()]
    assert ids == ["first", "second"]
