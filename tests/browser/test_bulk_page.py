"""/sagas/bulk in headless Chromium: the filter from the query string, the dry-run count, the
confirmation, then the job's progress until every matched FAILED saga is resumed."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.test_dashboard_sagas import post, terminal, tid
from tests.support.dates import flight_id

CUSTOMER = "LOY-1005"  # no other browser test books for this customer


def failed_booking(base_url: str) -> dict[str, Any]:
    started = post(
        base_url,
        "/api/bookings",
        {
            "customer_id": CUSTOMER,
            "flight_ids": [flight_id("FS101", 2)],
            "passengers": [{"first_name": "Ada", "last_name": "Lovelace"}],
            "card": {
                "number": "4242 4242 4242 4242",
                "exp_month": 12,
                "exp_year": 2031,
                "cvc": "123",
                "holder_name": "Ada Lovelace",
            },
            "fail_at": ["confirm_booking"],
            "faults": ["loyalty:compensate-fail=always"],
        },
    )
    return terminal(base_url, started["saga_id"], timeout=60)


def status_of(base_url: str, saga_id: str) -> str:
    with urllib.request.urlopen(f"{base_url}/api/sagas/{saga_id}", timeout=10) as reply:
        return str(json.load(reply)["status"])


def test_bulk_resume_counts_confirms_and_shows_progress(page: Page, base_url: str) -> None:
    sagas = [failed_booking(base_url) for _ in range(2)]
    assert [s["status"] for s in sagas] == ["FAILED", "FAILED"], sagas
    # From the saga list's filter to the bulk page, with the same filter.
    page.goto(f"/sagas?status=failed&customer={CUSTOMER}&since=1h")
    tid(page, "bulk-link").click()
    expect(page).to_have_url(re.compile(r"/sagas/bulk\?.*customer=LOY-1005"))
    expect(tid(page, "bulk-filter")).to_contain_text(f"state FAILED, customer {CUSTOMER}")
    expect(tid(page, "bulk-count")).to_have_text("2 sagas match (dry run).")
    expect(tid(page, "bulk-confirm")).to_have_text("Resume 2 sagas")
    expect(tid(page, "bulk-clear-faults")).to_be_checked()
    tid(page, "bulk-confirm").click()
    expect(tid(page, "bulk-state")).to_have_text("DONE")
    expect(tid(page, "bulk-progress")).to_have_text("2 of 2: 2 done, 0 skipped, 0 failed")
    end = time.monotonic() + 30
    while {status_of(base_url, s["saga_id"]) for s in sagas} != {"COMPENSATED"}:
        assert time.monotonic() < end, "the resumed sagas did not compensate"
        time.sleep(0.1)
    # Counted again, nothing is left to resume.
    page.reload()
    expect(tid(page, "bulk-count")).to_have_text("0 sagas match (dry run).")
    expect(tid(page, "bulk-confirm")).to_be_disabled()


def test_a_bad_filter_is_named_on_the_page(page: Page) -> None:
    page.goto("/sagas/bulk?status=sideways")
    expect(tid(page, "bulk-error")).to_contain_text("filter.status")
    expect(tid(page, "bulk-confirm")).to_be_disabled()
