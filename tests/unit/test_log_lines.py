"""stderr's handler: one write per event-loop turn, every line out, in the order logged."""

from __future__ import annotations

import asyncio
import io
import logging
import threading

from sagakit.logs import BatchedStreamHandler


class Writes(io.StringIO):
    """A stream that counts its writes."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def _logger(stream: Writes) -> tuple[logging.Logger, BatchedStreamHandler]:
    handler = BatchedStreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log = logging.getLogger(f"test-batched-{id(stream)}")
    log.propagate = False
    log.handlers[:] = [handler]
    log.setLevel(logging.INFO)
    return log, handler


def test_lines_of_one_loop_turn_go_out_in_one_write_before_the_loop_waits() -> None:
    stream = Writes()
    log, _ = _logger(stream)

    async def main() -> None:
        for i in range(5):
            log.info("line %d", i)
        assert stream.getvalue() == ""  # not yet: the turn is not over
        await asyncio.sleep(0)
        assert stream.getvalue() == "".join(f"line {i}\n" for i in range(5))
        assert stream.writes == 1
        log.info("next turn")
        await asyncio.sleep(0.01)
        assert stream.getvalue().endswith("next turn\n") and stream.writes == 2

    asyncio.run(main())


def test_a_thread_writes_at_once_after_the_lines_still_waiting() -> None:
    stream = Writes()
    log, _ = _logger(stream)

    async def main() -> None:
        log.info("from the loop")
        thread = threading.Thread(target=lambda: log.info("from a thread"))
        thread.start()
        thread.join()
        assert stream.getvalue() == "from the loop\nfrom a thread\n"
        await asyncio.sleep(0)
        assert stream.getvalue() == "from the loop\nfrom a thread\n"

    asyncio.run(main())


def test_without_a_loop_every_line_is_written_and_flush_empties_what_waits() -> None:
    stream = Writes()
    log, handler = _logger(stream)
    log.info("no loop")
    assert stream.getvalue() == "no loop\n"

    async def main() -> None:
        log.info("last words")  # the loop ends before its turn does

    loop = asyncio.new_event_loop()
    loop.run_until_complete(main())
    loop.close()
    handler.flush()  # what logging.shutdown does at exit
    assert stream.getvalue() == "no loop\nlast words\n"


def test_a_loop_that_stopped_before_its_turn_ended_does_not_hold_the_next_loops_lines() -> None:
    stream = Writes()
    log, _ = _logger(stream)
    loop = asyncio.new_event_loop()

    def turn() -> None:
        # Logged in this turn; the loop stops at its end, before the write due next turn.
        loop.call_soon(lambda: (log.info("first loop"), loop.stop()))

    loop.call_soon(turn)
    loop.run_forever()
    loop.close()
    assert stream.getvalue() == ""  # still waiting: that loop never ran the write

    async def second() -> None:
        log.info("second loop")
        await asyncio.sleep(0.01)
        assert stream.getvalue() == "first loop\nsecond loop\n"

    asyncio.run(second())
