"""The dashboard in headless Chromium: the test page's scenarios, resume, flights, errors."""

from __future__ import annotations

import json
import re
import socket
import urllib.request
from typing import Any

from playwright.sync_api import Page, expect

from dashboard.config import DashboardConfig
from tests.support.dashboard_stack import StackThread
from tests.support.dates import flight_date, flight_id

STEPS = ["reserve_seat", "deduct_loyalty_points", "process_payment", "confirm_booking"]


def tid(page: Page, testid: str) -> Any:
    return page.get_by_test_id(testid)


def saga_total(base_url: str) -> int:
    with urllib.request.urlopen(f"{base_url}/api/sagas", timeout=10) as reply:
        total: int = json.load(reply)["total"]
    return total


def run_and_wait(page: Page, button: str, status: str) -> None:
    tid(page, button).click()
    expect(tid(page, "saga-status")).to_have_attribute("data-status", status)
    # The proof panel and the log load once the stream has ended.
    expect(tid(page, "proof")).to_be_visible()


def test_success_scenario_shows_four_completed_steps_and_a_booking_reference(page: Page) -> None:
    page.goto("/test")
    expect(page.get_by_text("Fail at Process Payment")).to_be_visible()
    run_and_wait(page, "btn-success", "COMPLETED")
    for step in STEPS:
        expect(tid(page, f"timeline-row-{step}")).to_have_attribute("data-state", "SUCCEEDED")
        expect(tid(page, f"flow-step-{step}")).to_have_attribute("data-state", "SUCCEEDED")
        expect(tid(page, f"step-attempts-{step}")).to_have_text("1 attempt")
    ref = tid(page, "booking-reference").inner_text()
    assert len(ref) == 6 and ref.isalnum()
    assert tid(page, "correlation-id").inner_text().strip()
    expect(tid(page, "no-compensations")).to_be_visible()
    expect(page.locator("li.compensation")).to_have_count(0)
    expect(tid(page, "proof-seat-state")).to_have_text("held")
    expect(tid(page, "proof-loyalty-state")).to_have_text("deducted")
    expect(tid(page, "proof-payment-state")).to_have_text("charged")
    expect(tid(page, "proof-booking-state")).to_have_text("confirmed")
    expect(tid(page, "proof-booking-summary")).to_contain_text(ref)
    expect(tid(page, "saga-log")).to_contain_text("[SAGA] saga_completed")
    assert "saga=" in page.url


def test_the_test_page_at_its_first_address_books_tomorrows_flight(page: Page) -> None:
    page.goto("/saga/test")
    expect(page).to_have_title("SAGA test · FlightSaga")
    expect(tid(page, "nav-test")).to_have_class(re.compile(r"\bactive\b"))
    expect(page.locator('[name="flight_ids[0]"]')).to_have_value(flight_id("FS101", 1))
    run_and_wait(page, "btn-success", "COMPLETED")


def test_a_departed_flight_is_refused_next_to_its_field(page: Page, base_url: str) -> None:
    before = saga_total(base_url)
    page.goto("/test")
    page.locator("#booking-details summary").click()
    page.locator('[name="flight_ids[0]"]').fill(flight_id("FS101", -1))
    tid(page, "btn-success").click()
    expect(tid(page, "error-flight_ids[0]")).to_contain_text("departed at")
    assert saga_total(base_url) == before


def test_fail_at_payment_compensates_loyalty_then_seat(page: Page) -> None:
    page.goto("/test")
    tid(page, "fail-process_payment").check()
    run_and_wait(page, "btn-failure", "COMPENSATED")
    comps = page.locator("li.compensation")
    expect(comps).to_have_count(2)
    expect(comps.nth(0)).to_have_attribute("data-testid", "compensation-deduct_loyalty_points")
    expect(comps.nth(1)).to_have_attribute("data-testid", "compensation-reserve_seat")
    expect(tid(page, "timeline-row-process_payment")).to_have_attribute("data-state", "STEP_FAILED")
    expect(tid(page, "timeline-row-confirm_booking")).to_have_attribute("data-state", "SKIPPED")
    expect(tid(page, "saga-error")).to_contain_text("process_payment failed")
    expect(tid(page, "booking-result")).to_be_hidden()
    # The participants' own records: seat released, points refunded, no charge left behind.
    expect(tid(page, "proof-seat-state")).to_have_text("released")
    expect(tid(page, "proof-loyalty-state")).to_have_text("refunded")
    expect(tid(page, "proof-payment-state")).to_have_text("none")
    expect(tid(page, "proof-payment-summary")).to_have_text("no charge (nothing to refund)")
    expect(tid(page, "proof-booking-state")).to_have_text("none")
    expect(tid(page, "saga-log")).to_contain_text("[COMPENSATION]")
    # The log shows the participants' own lines for the saga too, wrapped, not cut off.
    expect(tid(page, "saga-log")).to_contain_text("loyalty_service")
    expect(tid(page, "saga-log")).to_contain_text("seat_service")
    overflow = tid(page, "saga-log").evaluate("e => e.scrollWidth - e.clientWidth")
    assert overflow <= 1, f"the saga log scrolls sideways by {overflow}px"
    # The trace id is the saga's (its tracing backend's search key).
    saga_id = tid(page, "saga-id").inner_text().strip()
    expect(tid(page, "trace-id")).to_have_text(saga_id)


def test_fail_at_confirm_booking_refunds_the_payment(page: Page) -> None:
    page.goto("/test")
    tid(page, "fail-confirm_booking").check()
    run_and_wait(page, "btn-failure", "COMPENSATED")
    comps = page.locator("li.compensation")
    expect(comps).to_have_count(3)
    order = [comps.nth(i).get_attribute("data-testid") for i in range(3)]
    assert order == [
        "compensation-process_payment",
        "compensation-deduct_loyalty_points",
        "compensation-reserve_seat",
    ]
    expect(tid(page, "proof-seat-state")).to_have_text("released")
    expect(tid(page, "proof-loyalty-state")).to_have_text("refunded")
    expect(tid(page, "proof-payment-state")).to_have_text("refunded")


def test_clear_selections_resets_the_page(page: Page) -> None:
    page.goto("/test")
    tid(page, "fail-reserve_seat").check()
    tid(page, "fail-confirm_booking").check()
    page.locator("#advanced summary").click()
    tid(page, "fault-step").select_option("process_payment")
    tid(page, "fault-kind").select_option("transient")
    tid(page, "add-fault").click()
    expect(tid(page, "fault-item")).to_have_count(1)
    run_and_wait(page, "btn-failure", "COMPENSATED")
    expect(tid(page, "flow-step-reserve_seat")).to_have_attribute("data-state", "STEP_FAILED")
    tid(page, "btn-clear").click()
    for step in STEPS:
        expect(tid(page, f"fail-{step}")).not_to_be_checked()
        expect(tid(page, f"flow-step-{step}")).to_have_attribute("data-state", "")
    expect(tid(page, "fault-item")).to_have_count(0)
    expect(tid(page, "result")).to_be_hidden()
    expect(tid(page, "proof")).to_be_hidden()
    assert "saga=" not in page.url


def test_selected_failure_needs_a_selection(page: Page, base_url: str) -> None:
    before = saga_total(base_url)
    page.goto("/test")
    tid(page, "btn-failure").click()
    expect(tid(page, "form-error")).to_contain_text("Select a step to fail")
    assert saga_total(base_url) == before


def test_validation_error_is_shown_next_to_the_field(page: Page, base_url: str) -> None:
    before = saga_total(base_url)
    page.goto("/test")
    page.locator("#booking-details summary").click()
    page.locator('[name="card.number"]').fill("4242 4242 4242 4241")
    tid(page, "btn-success").click()
    expect(tid(page, "error-card.number")).to_contain_text("Luhn")
    expect(page.locator('[name="card.number"]')).to_have_class("invalid")
    expect(tid(page, "result")).to_be_hidden()
    assert saga_total(base_url) == before


def test_resume_a_failed_saga_from_the_sagas_page(page: Page) -> None:
    page.goto("/test")
    tid(page, "fail-confirm_booking").check()
    page.locator("#advanced summary").click()
    tid(page, "fault-step").select_option("process_payment")
    tid(page, "fault-kind").select_option("compensate-fail-always")
    tid(page, "add-fault").click()
    expect(tid(page, "fault-item")).to_have_text("process_payment:compensate-fail=always ×")
    run_and_wait(page, "btn-failure", "FAILED")
    expect(tid(page, "resume-panel")).to_be_visible()
    expect(tid(page, "compensation-process_payment")).to_have_attribute(
        "data-state", "COMPENSATION_FAILED"
    )
    saga_id = tid(page, "saga-id").inner_text()

    page.goto("/sagas?status=FAILED")
    row = tid(page, f"saga-row-{saga_id}")
    expect(row).to_have_attribute("data-status", "FAILED")
    expect(tid(page, "stat-failed-value")).not_to_have_text("0")
    expect(tid(page, "resume-clear-faults")).to_be_checked()
    tid(page, f"resume-{saga_id}").click()
    expect(tid(page, "sagas-message")).to_contain_text("now compensated")
    expect(row).to_have_count(0)  # no longer FAILED

    tid(page, "status-filter").select_option("")
    expect(tid(page, f"saga-row-{saga_id}")).to_have_attribute("data-status", "COMPENSATED")
    tid(page, f"saga-link-{saga_id}").click()
    expect(tid(page, "saga-status")).to_have_attribute("data-status", "COMPENSATED")
    expect(tid(page, "proof-payment-state")).to_have_text("refunded")
    expect(tid(page, "proof-seat-state")).to_have_text("released")
    expect(tid(page, "saga-log")).to_contain_text("saga_resumed")


def test_flight_times_are_local_to_their_airport_with_the_zone(page: Page) -> None:
    page.goto("/flights")
    tid(page, "origin").fill("JFK")
    tid(page, "destination").fill("LAX")
    tid(page, "search").click()
    row = page.locator('[data-testid^="flight-FS"]').first
    expect(row).to_contain_text(re.compile(r" E[SD]T"))  # departs JFK, in New York's time
    expect(row).to_contain_text(re.compile(r" P[SD]T"))  # arrives LAX, in Los Angeles' time
    assert re.search(r"\b\d\d:\d\d E[SD]T\b", row.inner_text()), row.inner_text()
    assert not re.search(r"\d\d:\d\d:\d\d", row.inner_text()), "no seconds"


def test_departed_flights_are_listed_but_cannot_be_booked(page: Page) -> None:
    page.goto("/flights")
    tid(page, "date").fill(flight_date(-1))
    tid(page, "search").click()
    gone = flight_id("FS101", -1)
    expect(tid(page, f"flight-{gone}")).to_have_attribute("data-departed", "true")
    expect(tid(page, f"book-{gone}")).to_be_disabled()
    expect(tid(page, f"book-{gone}")).to_have_text("Departed")
    expect(tid(page, f"pick-{gone}")).to_be_disabled()


def test_flight_search_with_no_result_says_no_flights_found(page: Page) -> None:
    page.goto("/flights")
    tid(page, "origin").fill("BOS")
    tid(page, "destination").fill("LHR")
    tid(page, "search").click()
    expect(tid(page, "no-flights")).to_have_text("No flights found")
    expect(tid(page, "no-flights")).to_be_visible()


def test_flight_search_error_is_shown_next_to_the_field(page: Page) -> None:
    page.goto("/flights")
    tid(page, "origin").fill("J1")
    tid(page, "search").click()
    expect(tid(page, "error-origin")).to_contain_text("3-letter airport code")


def test_book_a_round_trip_from_search_results(page: Page) -> None:
    page.goto("/flights")
    tid(page, "return_date").fill(flight_date(8))
    tid(page, "search").click()
    expect(tid(page, f"flight-{flight_id('FS101', 1)}")).to_be_visible()
    expect(tid(page, "inbound-table").locator("tr")).not_to_have_count(0)
    tid(page, f"pick-{flight_id('FS101', 1)}").check()
    tid(page, "inbound-table").locator("input[type=radio]").first.check()
    tid(page, "book-round-trip").click()
    legs = f"{flight_id('FS101', 1)} + {flight_id('FS102', 8)}"
    expect(tid(page, "book-legs")).to_contain_text(legs)
    tid(page, "book-count").fill("2")
    tid(page, "book-first-1").fill("Grace")
    tid(page, "book-last-1").fill("Hopper")
    tid(page, "book-submit").click()
    expect(tid(page, "saga-status")).to_have_attribute("data-status", "COMPLETED")
    expect(tid(page, "proof-seat-summary")).to_have_text("4 seat(s) held")


def test_orchestrator_unreachable_banner(page: Page, stack_thread: StackThread) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{s.getsockname()[1]}"
    url = stack_thread.extra_dashboard(DashboardConfig.local(orchestrator=dead))
    page.goto(f"{url}/sagas")
    banner = tid(page, "banner-unreachable")
    expect(banner).to_be_visible()
    expect(banner).to_have_text(f"orchestrator unreachable at {dead} (ORCHESTRATOR_ADDR)")
    page.goto(f"{url}/test")
    expect(banner).to_be_visible()
    tid(page, "btn-success").click()
    expect(tid(page, "form-error")).to_contain_text("orchestrator unreachable")


def test_unknown_saga_link_says_so(page: Page) -> None:
    page.goto("/test?saga=no-such-saga")
    expect(tid(page, "saga-error")).to_contain_text("no saga 'no-such-saga'")
