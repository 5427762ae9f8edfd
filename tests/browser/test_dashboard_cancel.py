"""The Cancel button of a running saga's page, in headless Chromium.

A stack of its own, with a step deadline longer than the hold put on the payment step, so the
saga waits on one payment attempt in flight while the page is used.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.support.booking import GOOD_CARD
from tests.support.dashboard_stack import StackThread
from tests.support.dates import flight_id


@pytest.fixture(scope="module")
def stack_thread() -> Iterator[StackThread]:
    stack = StackThread(STEP_TIMEOUT_MS="10000").start()
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def base_url(stack_thread: StackThread) -> str:
    return stack_thread.base_url


def tid(page: Page, testid: str) -> Any:
    return page.get_by_test_id(testid)


def start_booking(page: Page, faults: list[str], customer: str = "LOY-1002") -> str:
    booking = {
        "customer_id": customer,
        "flight_ids": [flight_id("FS101", 2)],
        "passengers": [{"first_name": "Ada", "last_name": "Lovelace"}],
        "loyalty_points": 500,
        "card": {
            "number": GOOD_CARD,
            "exp_month": 12,
            "exp_year": 2031,
            "cvc": "123",
            "holder_name": "Ada Lovelace",
        },
        "faults": faults,
    }
    reply = page.request.post("/api/bookings", data=booking)
    assert reply.status == 202, reply.text()
    saga_id: str = reply.json()["saga_id"]
    return saga_id


def test_cancel_a_running_saga_from_its_page_with_a_reason(page: Page) -> None:
    saga_id = start_booking(page, ["payment:delay=4000"])
    page.goto(f"/test?saga={saga_id}")
    expect(tid(page, "timeline-row-process_payment")).to_have_attribute("data-state", "EXECUTING")
    expect(tid(page, "cancel-panel")).to_be_visible()
    expect(tid(page, "cancelled-line")).to_be_hidden()

    tid(page, "cancel-button").click()  # no reason yet: the page asks for one
    expect(tid(page, "cancel-error")).to_have_text("Say why: the reason is kept with the saga.")
    expect(tid(page, "saga-status")).to_have_attribute("data-status", "RUNNING")

    tid(page, "cancel-reason").fill("the customer changed plans")
    tid(page, "cancel-button").click()
    expect(tid(page, "saga-status")).to_have_attribute("data-status", "COMPENSATED")
    expect(tid(page, "cancelled-line")).to_contain_text("Cancelled by anonymous at ")
    expect(tid(page, "cancelled-line")).to_contain_text(": the customer changed plans")
    expect(tid(page, "cancel-panel")).to_be_hidden()
    expect(tid(page, "saga-error")).to_have_text(
        "cancelled by anonymous: the customer changed plans"
    )
    expect(page.locator('[data-testid="event"][data-type="SAGA_CANCELLED"]')).to_have_count(1)
    for step in ("process_payment", "deduct_loyalty_points", "reserve_seat"):
        expect(tid(page, f"compensation-{step}")).to_have_attribute(
            "data-state", "COMPENSATED_STEP"
        )
    expect(tid(page, "timeline-row-confirm_booking")).to_have_attribute("data-state", "SKIPPED")
    expect(tid(page, "proof-seat-state")).to_have_text("released")
    expect(tid(page, "saga-log")).to_contain_text("saga_cancelled")


def test_a_saga_that_has_ended_shows_no_cancel_button(page: Page) -> None:
    saga_id = start_booking(page, [])
    page.goto(f"/test?saga={saga_id}")
    expect(tid(page, "saga-status")).to_have_attribute("data-status", "COMPLETED")
    expect(tid(page, "cancel-panel")).to_be_hidden()
    expect(tid(page, "cancelled-line")).to_be_hidden()
