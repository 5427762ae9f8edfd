"""The sagas page finds sagas by what they are about: its filter is in the address, paging
keeps it, and a bad value is said next to its field (and by the API as a 400 naming it)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_dashboard_sagas import post, terminal, tid
from tests.support.dates import flight_id

CUSTOMER = "LOY-1006"
FLIGHT = flight_id("FS105", 21)


def book(base_url: str, customer: str, fail_at: list[str]) -> dict[str, Any]:
    started = post(
        base_url,
        "/api/bookings",
        {
            "customer_id": customer,
            "flight_ids": [FLIGHT],
            "passengers": [{"first_name": "Ada", "last_name": "Lovelace"}],
            "card": {
                "number": "4242 4242 4242 4242",
                "exp_month": 12,
                "exp_year": 2031,
                "cvc": "123",
                "holder_name": "Ada Lovelace",
            },
            "fail_at": fail_at,
        },
    )
    return terminal(base_url, started["saga_id"])


def ids_shown(page: Page) -> list[str]:
    rows = tid(page, "sagas-table").locator("tr")
    return [str(r.get_attribute("data-testid")).removeprefix("saga-row-") for r in rows.all()]


def test_filter_by_customer_and_status_pages_through_exactly_those_sagas(
    page: Page, base_url: str
) -> None:
    undone = [book(base_url, CUSTOMER, ["payment"]) for _ in range(12)]
    done = book(base_url, CUSTOMER, [])
    other = book(base_url, "LOY-1004", ["payment"])
    assert {s["status"] for s in undone} == {"COMPENSATED"} and done["status"] == "COMPLETED"
    wanted = [s["saga_id"] for s in reversed(undone)]  # newest first

    page.goto("/sagas")
    tid(page, "page-size").select_option("10")
    tid(page, "filter-customer").fill(CUSTOMER)
    tid(page, "status-filter").select_option(["COMPENSATED"])
    expect(tid(page, "total")).to_have_text("12 sagas")
    expect(tid(page, "sagas-table").locator("tr")).to_have_count(10)
    first = ids_shown(page)
    assert first == wanted[:10]
    query = parse_qs(urlsplit(page.url).query)
    assert query == {"customer": [CUSTOMER], "status": ["COMPENSATED"]}
    bulk = str(tid(page, "bulk-link").get_attribute("href"))
    assert bulk.startswith("/sagas/bulk?") and parse_qs(urlsplit(bulk).query) == query
    expect(tid(page, "bulk-link")).to_have_text("Bulk action on these sagas…")
    one = wanted[0]
    reason = undone[-1]["error_reason"]
    expect(tid(page, f"saga-failed-{one}")).to_have_attribute("data-step", "process_payment")
    expect(tid(page, f"saga-failed-{one}")).to_have_attribute("data-reason", reason)
    expect(tid(page, f"saga-failed-{one}")).to_have_attribute("title", f"process_payment: {reason}")

    tid(page, "next-page").click()
    expect(tid(page, "page-label")).to_have_text("page 2")
    expect(tid(page, "sagas-table").locator("tr")).to_have_count(2)
    assert ids_shown(page) == wanted[10:]
    expect(tid(page, "next-page")).to_be_disabled()
    assert done["saga_id"] not in first and other["saga_id"] not in first

    # A relative time: the next page is of the same sagas, though `1d` moves meanwhile.
    page.goto(f"/sagas?customer={CUSTOMER}&status=COMPENSATED&since=1d")
    tid(page, "page-size").select_option("10")
    expect(tid(page, "sagas-table").locator("tr")).to_have_count(10)
    tid(page, "next-page").click()
    expect(tid(page, "page-label")).to_have_text("page 2")
    expect(tid(page, "sagas-table").locator("tr")).to_have_count(2)
    assert ids_shown(page) == wanted[10:]

    # The address alone opens the same view (a link an operator sends).
    page.goto(f"/sagas?customer={CUSTOMER}&status=COMPLETED&flight={FLIGHT}")
    expect(tid(page, "filter-flight")).to_have_value(FLIGHT)
    expect(tid(page, "total")).to_have_text("1 saga")
    assert ids_shown(page) == [done["saga_id"]]


def test_a_bad_filter_value_is_said_next_to_its_field(page: Page) -> None:
    page.goto("/sagas")
    tid(page, "filter-since").fill("soon")
    tid(page, "filter-apply").click()
    expect(tid(page, "error-since")).to_contain_text("since: 'soon' is not `30m`, `1h`, `2d`")
    tid(page, "filter-since").fill("1h")
    tid(page, "filter-step").fill("lunch")
    tid(page, "filter-apply").click()
    expect(tid(page, "error-step")).to_contain_text("step: unknown step 'lunch'")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=LOST", "status"),
        ("since=tomorrowish", "since"),
        ("until=2026-13-40", "until"),
        ("step=lunch", "step"),
        ("reason=not+a+reason", "reason"),
        ("saga=nosuch", "saga"),
        ("since=1h&until=2h", "until"),
    ],
)
def test_the_api_answers_a_bad_parameter_with_400_naming_it(
    base_url: str, query: str, field: str
) -> None:
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{base_url}/api/sagas?{query}", timeout=10)
    assert refused.value.code == 400
    body = json.load(refused.value)
    assert body["field"] == field and body["error"].startswith(f"{field}: "), body
