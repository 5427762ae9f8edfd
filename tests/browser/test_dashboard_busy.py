"""A busy orchestrator (SAGA_MAX_IN_FLIGHT=1, one saga held by a `delay` fault): the test
page tells the user to retry later, and no saga is started."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from flightsaga.v1 import orchestrator_pb2 as pb
from tests.support.booking import book_request, first_flight
from tests.support.dashboard_stack import StackThread

BUSY = "The orchestrator is busy: retry later (in about 1 s)"


@pytest.fixture(scope="module")
def busy_stack() -> Iterator[StackThread]:
    stack = StackThread(SAGA_MAX_IN_FLIGHT="1", STEP_TIMEOUT_MS="60000").start()
    try:
        yield stack
    finally:
        stack.stop()


async def hold_one(stack: Any) -> None:
    """Start the one saga the orchestrator has room for, held at its payment step."""
    request = pb.StartBookingRequest(
        request_id="held-ui", booking=book_request([await first_flight(stack)])
    )
    await stack.orchestrator.StartBooking(
        request, metadata=(("x-fault", "payment:delay=50000"),), timeout=10
    )


def saga_total(base_url: str) -> int:
    with urllib.request.urlopen(f"{base_url}/api/sagas", timeout=10) as reply:
        total: int = json.load(reply)["total"]
    return total


def test_the_test_page_says_retry_later_when_the_orchestrator_is_busy(
    browser: Any, busy_stack: StackThread
) -> None:
    busy_stack.run(hold_one(busy_stack.stack))
    context = browser.new_context(base_url=busy_stack.base_url)
    context.set_default_timeout(20_000)
    page = context.new_page()
    try:
        page.goto("/test")
        page.get_by_test_id("btn-success").click()
        expect(page.get_by_test_id("form-error")).to_have_text(BUSY)
        assert saga_total(busy_stack.base_url) == 1
    finally:
        context.close()
