"""`flightsaga cancel` as a user runs it (a real process) against a real stack: what it prints
and its exit statuses."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from google.protobuf import json_format

from flightsaga.v1 import orchestrator_pb2 as pb
from tests.support.booking import book_request, first_flight
from tests.support.cancel import paying, start_held, status, wait_for
from tests.support.stack import Stack, running_stack

ENV = {"STEP_TIMEOUT_MS": "10000"}


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path, **ENV) as s:
        yield s


async def cli(stack: Stack, *args: str) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if k != "FLIGHTSAGA_TOKEN"}
    env["ORCHESTRATOR_ADDR"] = stack.orchestrator_addr
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode()


async def test_cancel_logs_the_cancel_and_with_wait_follows_the_saga_to_compensated(
    stack: Stack,
) -> None:
    started = await start_held(stack, "cli-held")
    await wait_for(stack.orchestrator, started.saga_id, paying)
    code, out = await cli(stack, "cancel", started.saga_id, "--reason", "duplicate booking")
    assert code == 0, out
    assert out.startswith(f"saga {started.saga_id}  "), out
    assert "cancelled by anonymous at " in out and "UTC: duplicate booking" in out, out
    assert "CANCEL LOGGED: the saga stops and compensates what ran" in out, out

    code, out = await cli(stack, "cancel", started.saga_id, "--reason", "again", "--wait", "--json")
    assert code == 0, out  # a repeated cancel is harmless; --wait: it ended COMPENSATED
    saga = json_format.Parse(out, pb.Saga())
    assert status(saga) == "COMPENSATED"
    assert (saga.cancelled_by, saga.cancel_reason) == ("anonymous", "duplicate booking")
    assert saga.compensation_order[0] == "process_payment"


async def test_cancel_refusals_exit_2_and_say_why(stack: Stack) -> None:
    flight = await first_flight(stack)
    done = await stack.orchestrator.BookFlight(book_request([flight]), timeout=30)
    code, out = await cli(stack, "cancel", done.saga_id, "--reason", "too late")
    assert code == 2, out
    assert "FAILED_PRECONDITION SAGA_NOT_CANCELLABLE" in out and "is COMPLETED" in out, out
    code, out = await cli(stack, "cancel", "no-such-saga", "--reason", "why")
    assert code == 2 and "NOT_FOUND" in out, out
    code, out = await cli(stack, "cancel", done.saga_id)
    assert code == 2 and "--reason" in out, out
    code, out = await cli(stack, "cancel", done.saga_id, "--reason", "x" * 501)
    assert code == 2 and "reason: is too long" in out, out
    assert "Traceback" not in out
