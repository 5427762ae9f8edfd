"""What the user sees of saga and step states: colours, labels, long errors, titles, favicon."""

from __future__ import annotations

import json
import re
import urllib.request
from typing import Any

from playwright.sync_api import Page, Request, Response, Route, expect

from tests.browser.conftest import SCREENSHOTS
from tests.browser.test_dashboard_ui import STEPS, run_and_wait, tid
from tests.support.dates import flight_id

SUCCEEDED_GREEN = "rgb(230, 244, 234)"  # --st-bg of SUCCEEDED / COMPLETED
RAW_ENUM = re.compile(r"^[A-Z][A-Z_]+$")


def background(locator: Any) -> str:
    value: str = locator.evaluate("node => getComputedStyle(node).backgroundColor")
    return value


def colours(locator: Any) -> tuple[str, str]:
    value: list[str] = locator.evaluate(
        "node => [getComputedStyle(node).color, getComputedStyle(node).backgroundColor]"
    )
    return value[0], value[1]


def badge_texts(page: Page) -> list[str]:
    texts: list[str] = page.locator(".badge").evaluate_all(
        "nodes => nodes.map(n => n.textContent.trim())"
    )
    return texts


def book(base_url: str, **changes: Any) -> str:
    body: dict[str, Any] = {
        "customer_id": "LOY-1002",
        "flight_ids": [flight_id("FS101", 1)],
        "passengers": [{"first_name": "Alan", "last_name": "Turing"}],
        "cabin_class": "ECONOMY",
        "loyalty_points": 0,
        "card": {
            "number": "4242 4242 4242 4242",
            "exp_month": 12,
            "exp_year": 2031,
            "cvc": "123",
            "holder_name": "Alan Turing",
        },
        **changes,
    }
    request = urllib.request.Request(
        f"{base_url}/api/bookings",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        saga_id: str = json.load(reply)["saga_id"]
    return saga_id


def test_compensated_steps_have_their_own_colour_and_a_readable_label(page: Page) -> None:
    page.goto("/test")
    tid(page, "fail-process_payment").check()
    run_and_wait(page, "btn-failure", "COMPENSATED")

    # Labels are words; the enum value stays in data-state.
    expected = {
        "reserve_seat": ("COMPENSATED_STEP", "compensated"),
        "deduct_loyalty_points": ("COMPENSATED_STEP", "compensated"),
        "process_payment": ("STEP_FAILED", "failed"),
        "confirm_booking": ("SKIPPED", "skipped"),
    }
    for step, (state, label) in expected.items():
        badge = tid(page, f"timeline-state-{step}")
        expect(badge).to_have_text(label)
        expect(badge).to_have_attribute("data-state", state)
    expect(tid(page, "compensation-state-reserve_seat")).to_have_text("compensated")
    status = tid(page, "saga-status")
    expect(status).to_have_attribute("data-status", "COMPENSATED")
    expect(status).to_have_text("compensated")
    assert not [t for t in badge_texts(page) if RAW_ENUM.match(t)], badge_texts(page)

    # A compensated step is not green; failed and skipped have colours of their own too.
    compensated = colours(tid(page, "timeline-state-reserve_seat"))
    failed = colours(tid(page, "timeline-state-process_payment"))
    skipped = colours(tid(page, "timeline-state-confirm_booking"))
    assert compensated[1] != SUCCEEDED_GREEN
    assert len({compensated, failed, skipped}) == 3
    box = tid(page, "flow-step-reserve_seat")
    assert background(box) == compensated[1]  # the flow box and the badge agree
    assert background(tid(page, "flow-step-confirm_booking")) == skipped[1]
    # The participants' records undone by those compensations read the same way.
    expect(tid(page, "proof-seat-state")).to_have_text("released")
    assert colours(tid(page, "proof-seat-state")) == compensated
    assert colours(tid(page, "proof-loyalty-state")) == compensated
    saga_id = tid(page, "saga-id").inner_text()

    # The same colours and words on /sagas, with a legend.
    page.goto("/sagas")
    row = tid(page, f"saga-row-{saga_id}")
    expect(row).to_have_attribute("data-status", "COMPENSATED")
    expect(tid(page, f"saga-status-{saga_id}")).to_have_text("compensated")
    step = tid(page, f"saga-step-{saga_id}-reserve_seat")
    expect(step).to_have_attribute("data-state", "COMPENSATED_STEP")
    expect(step).to_have_attribute("title", "Reserve seat: compensated")
    assert colours(step) == compensated
    assert colours(tid(page, f"saga-step-{saga_id}-process_payment")) == failed
    assert colours(tid(page, f"saga-step-{saga_id}-confirm_booking")) == skipped
    legend = {
        "SUCCEEDED": "succeeded",
        "EXECUTING": "executing",
        "STEP_FAILED": "failed",
        "UNKNOWN_OUTCOME": "outcome unknown",
        "COMPENSATING_STEP": "compensating",
        "COMPENSATED_STEP": "compensated",
        "COMPENSATION_FAILED": "compensation failed",
        "SKIPPED": "skipped",
        "PENDING": "pending",
    }
    seen = set()
    for state, label in legend.items():
        expect(tid(page, f"legend-{state}")).to_have_text(label)
        seen.add(colours(tid(page, f"legend-{state}")))
    assert len(seen) == len(legend), "every step state has a colour of its own"
    assert colours(tid(page, "legend-COMPENSATED_STEP")) == compensated
    assert background(tid(page, "legend-SUCCEEDED")) == SUCCEEDED_GREEN
    expect(tid(page, "status-filter").locator("option[value=COMPENSATED]")).to_have_text(
        "compensated"
    )
    assert not [t for t in badge_texts(page) if RAW_ENUM.match(t)], badge_texts(page)


def test_compensation_failed_is_labelled_and_coloured(page: Page) -> None:
    page.goto("/test")
    tid(page, "fail-confirm_booking").check()
    page.locator("#advanced summary").click()
    tid(page, "fault-step").select_option("process_payment")
    tid(page, "fault-kind").select_option("compensate-fail-always")
    tid(page, "add-fault").click()
    run_and_wait(page, "btn-failure", "FAILED")
    badge = tid(page, "compensation-state-process_payment")
    expect(badge).to_have_text("compensation failed")
    expect(badge).to_have_attribute("data-state", "COMPENSATION_FAILED")
    expect(tid(page, "timeline-state-process_payment")).to_have_text("compensation failed")
    failed = colours(tid(page, "timeline-state-confirm_booking"))  # STEP_FAILED
    assert colours(badge) != failed
    assert background(tid(page, "flow-step-process_payment")) == colours(badge)[1]
    expect(tid(page, "saga-status")).to_have_text("failed")


def test_success_scenario_clears_the_fail_at_boxes_and_faults_it_does_not_send(
    page: Page,
) -> None:
    page.goto("/test")
    tid(page, "fail-process_payment").check()
    tid(page, "fail-reserve_seat").check()
    page.locator("#advanced summary").click()
    tid(page, "fault-step").select_option("deduct_loyalty_points")
    tid(page, "fault-kind").select_option("transient")
    tid(page, "add-fault").click()
    expect(tid(page, "fault-item")).to_have_count(1)

    def is_booking(request: Request) -> bool:
        return request.url.endswith("/api/bookings") and request.method == "POST"

    with page.expect_request(is_booking) as sent:
        run_and_wait(page, "btn-success", "COMPLETED")
    body = sent.value.post_data_json
    assert isinstance(body, dict), body
    assert "fail_at" not in body and "faults" not in body, body
    # The page shows what was sent: nothing ticked, no faults.
    for step in STEPS:
        expect(tid(page, f"fail-{step}")).not_to_be_checked()
        expect(tid(page, f"timeline-row-{step}")).to_have_attribute("data-state", "SUCCEEDED")
    expect(tid(page, "fault-item")).to_have_count(0)
    expect(tid(page, "scenario")).to_have_text("success scenario")

    # A failure run afterwards sends only what is ticked then.
    tid(page, "fail-confirm_booking").check()
    with page.expect_request(is_booking) as sent:
        run_and_wait(page, "btn-failure", "COMPENSATED")
    body = sent.value.post_data_json
    assert isinstance(body, dict), body
    assert body["fail_at"] == ["confirm_booking"] and body["faults"] == [], body
    expect(tid(page, "fail-confirm_booking")).to_be_checked()


def test_a_long_error_is_one_line_with_the_whole_text_on_hover_and_click(
    page: Page, base_url: str
) -> None:
    saga_id = book(base_url, fail_at=["process_payment"])
    long_error = "process_payment failed: ABORTED: " + " ".join(
        f"upstream gateway said no (detail {i})" for i in range(40)
    )

    def lengthen(route: Route) -> None:
        response = route.fetch()
        data = response.json()
        for saga in data["sagas"]:
            if saga["saga_id"] == saga_id:
                saga["error"] = long_error
        route.fulfill(response=response, json=data)

    page.route(re.compile(r"/api/sagas(\?.*)?$"), lengthen)
    page.goto("/sagas")
    row = tid(page, f"saga-row-{saga_id}")
    cell = tid(page, f"saga-error-{saga_id}")
    expect(cell).to_have_attribute("title", long_error)
    expect(cell).to_have_css("text-overflow", "ellipsis")
    expect(cell).to_have_css("white-space", "nowrap")
    assert cell.evaluate("n => n.scrollWidth > n.clientWidth"), "the text is cut with an ellipsis"
    line = float(cell.evaluate("n => parseFloat(getComputedStyle(n).lineHeight)"))
    height = row.bounding_box()["height"]
    assert height < 1.5 * line + 16, f"row is {height}px tall, a line is {line}px"
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth"), "no sideways scroll"
    row.scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "long_error_collapsed.png"), full_page=True)

    cell.click()
    expect(cell).to_have_class(re.compile(r"\bexpanded\b"))
    expect(cell).to_have_attribute("aria-expanded", "true")
    assert cell.evaluate("n => n.scrollWidth <= n.clientWidth")
    assert row.bounding_box()["height"] > 2 * height
    page.screenshot(path=str(SCREENSHOTS / "long_error_expanded.png"), full_page=True)
    cell.click()
    expect(cell).not_to_have_class(re.compile(r"\bexpanded\b"))


def test_booking_from_flights_lands_on_a_booking_saga_page(page: Page) -> None:
    page.goto("/test")
    expect(page).to_have_title("SAGA test · FlightSaga")
    page.goto("/flights")
    tid(page, "search").click()
    tid(page, f"book-{flight_id('FS101', 1)}").click()
    tid(page, "book-submit").click()
    expect(tid(page, "saga-status")).to_have_attribute("data-status", "COMPLETED")
    saga_id = tid(page, "saga-id").inner_text()
    expect(page).to_have_title(f"Booking saga {saga_id[:8]} (completed) · FlightSaga")
    expect(tid(page, "page-title")).to_have_text("Booking saga")
    expect(page.locator("h1")).not_to_have_text("SAGA test")
    # The scenario controls belong to the test page, not to one booking.
    expect(tid(page, "test-form")).to_be_hidden()
    expect(tid(page, "btn-success")).to_be_hidden()
    expect(tid(page, "new-scenario")).to_have_attribute("href", "/test")
    expect(tid(page, "nav-test")).not_to_have_class(re.compile(r"\bactive\b"))
    expect(tid(page, "booking-reference")).to_have_text(re.compile(r"^[A-Z0-9]{6}$"))


def test_no_page_asks_for_something_missing_and_the_favicon_is_served(page: Page) -> None:
    missing: list[str] = []

    def check(response: Response) -> None:
        if response.status >= 400:
            missing.append(f"{response.status} {response.url}")

    page.on("response", check)
    for path in ("/test", "/sagas", "/flights"):
        page.goto(path)
        page.wait_for_load_state("networkidle")
        icon = page.locator('link[rel="icon"]')
        expect(icon).to_have_attribute("href", "/static/favicon.svg")
    assert not missing, missing
    for path in ("/favicon.ico", "/static/favicon.svg"):
        reply = page.request.get(path)
        assert reply.status == 200, path
        assert reply.headers["content-type"].startswith("image/svg+xml")
    # The icon draws: an <img> of it has a size.
    width = page.evaluate(
        "() => new Promise(ok => { const i = new Image(); i.onload = () => ok(i.naturalWidth);"
        " i.onerror = () => ok(0); i.src = '/static/favicon.svg'; })"
    )
    assert width > 0
