"""Group commit's write queue (sagakit/writequeue.py): every caller gets an answer."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

from sagakit.writequeue import Job, WriteQueue


async def test_a_batch_the_backend_fails_answers_every_caller_with_its_error() -> None:
    """A backend whose batch runner raises (a bug, or an error it did not expect) must not
    leave the batch's callers waiting forever; the queue goes on with later work."""
    queued = threading.Event()
    sizes: list[int] = []

    def run_batch(jobs: list[Job]) -> None:
        sizes.append(len(jobs))
        if len(sizes) == 1:
            queued.wait(5)  # the writer is busy while the next three queue up
        elif len(sizes) == 2:
            raise RuntimeError("backend bug")
        for job in jobs:
            job.run(job.fn, "conn")

    with ThreadPoolExecutor(max_workers=1) as writer:
        queue = WriteQueue(writer, run_batch)
        busy = queue.submit(lambda conn: conn)
        batch = [queue.submit(lambda conn: conn) for _ in range(3)]
        queued.set()
        assert await asyncio.wait_for(busy, 5) == "conn"
        answers = await asyncio.wait_for(asyncio.gather(*batch, return_exceptions=True), 5)
        assert [str(a) for a in answers] == ["backend bug"] * 3
        assert await asyncio.wait_for(queue.submit(lambda conn: f"{conn} again"), 5) == (
            "conn again"
        )
        assert sizes == [1, 3, 1]
