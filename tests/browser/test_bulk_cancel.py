"""Bulk CANCEL on /sagas/bulk in headless Chromium: sagas held in their payment are counted,
cancelled with a reason, followed to DONE, and each ends COMPENSATED with who and why.

A stack of its own, with a step deadline longer than the hold on the payment step, so the
sagas stay RUNNING (one payment attempt in flight) while the page is used.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from flightsaga.v1 import orchestrator_pb2 as pb
from tests.browser.test_dashboard_cancel import start_booking, tid
from tests.support.dashboard_stack import StackThread

CUSTOMER = "LOY-1001"  # the only customer this module's stack books for
HELD = "payment:delay=20000"  # longer than the test needs; within the step deadline below
REASON = "storm at JFK"


@pytest.fixture(scope="module")
def stack_thread() -> Iterator[StackThread]:
    stack = StackThread(STEP_TIMEOUT_MS="30000").start()
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def base_url(stack_thread: StackThread) -> str:
    return stack_thread.base_url


def saga_of(stack: StackThread, saga_id: str) -> pb.Saga:
    """The saga as the orchestrator's GetSaga gives it."""

    async def get() -> pb.Saga:
        request = pb.GetSagaRequest(saga_id=saga_id)
        saga: pb.Saga = await stack.stack.orchestrator.GetSaga(request, timeout=10)
        return saga

    return stack.run(get())


def wait_compensated(stack: StackThread, saga_id: str) -> pb.Saga:
    end = time.monotonic() + 30
    while (saga := saga_of(stack, saga_id)).status != pb.COMPENSATED:
        assert time.monotonic() < end, f"not COMPENSATED: {saga}"
        time.sleep(0.1)
    return saga


def test_bulk_cancel_counts_confirms_and_every_saga_compensates(
    page: Page, stack_thread: StackThread
) -> None:
    sagas = [start_booking(page, [HELD], customer=CUSTOMER) for _ in range(3)]
    page.goto(f"/sagas/bulk?status=RUNNING&customer={CUSTOMER}&action=cancel")
    expect(tid(page, "bulk-filter")).to_contain_text(f"customer {CUSTOMER}")
    expect(tid(page, "bulk-action-cancel")).to_be_checked()
    expect(tid(page, "bulk-count")).to_have_text("3 sagas match (dry run).")
    expect(tid(page, "bulk-confirm")).to_have_text("Cancel 3 sagas")
    tid(page, "bulk-reason").fill(REASON)
    tid(page, "bulk-confirm").click()
    expect(tid(page, "bulk-state")).to_have_text("DONE")
    expect(tid(page, "bulk-progress")).to_have_text("3 of 3: 3 done, 0 skipped, 0 failed")
    job_id = tid(page, "bulk-job-id").text_content()
    by = f"anonymous (bulk job {job_id})"
    finals = [wait_compensated(stack_thread, s) for s in sagas]
    assert {(s.cancelled_by, s.cancel_reason) for s in finals} == {(by, REASON)}
    # Counted again, nothing RUNNING is left for this customer.
    page.reload()
    expect(tid(page, "bulk-count")).to_have_text("0 sagas match (dry run).")
    expect(tid(page, "bulk-confirm")).to_be_disabled()
