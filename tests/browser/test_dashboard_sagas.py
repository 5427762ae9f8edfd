"""The dashboard in headless Chromium with two sagas served: a trip beside the bookings, on the
sagas page and on its own page (its steps from its declaration), and started from the page."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.conftest import SCREENSHOTS
from tests.support.dates import flight_id

CHECK_IN = "2030-06-10"
BOOKING_STEPS = ["reserve_seat", "deduct_loyalty_points", "process_payment", "confirm_booking"]
TERMINAL = {"COMPLETED", "COMPENSATED", "FAILED"}


def tid(page: Page, testid: str) -> Any:
    return page.get_by_test_id(testid)


def post(base_url: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{base_url}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        out: dict[str, Any] = json.load(reply)
    return out


def terminal(base_url: str, saga_id: str, timeout: float = 30.0) -> dict[str, Any]:
    end = time.monotonic() + timeout
    while True:
        with urllib.request.urlopen(f"{base_url}/api/sagas/{saga_id}", timeout=10) as reply:
            saga: dict[str, Any] = json.load(reply)
        if saga["status"] in TERMINAL or time.monotonic() > end:
            return saga
        time.sleep(0.05)


def start_trip(base_url: str, **changes: Any) -> dict[str, Any]:
    trip = {"guest": "Ann Lee", "city": "LIS", "check_in": CHECK_IN, "nights": 3, **changes}
    started = post(base_url, "/api/sagas/start", {"saga": "trip", "input": trip})
    return terminal(base_url, started["saga_id"])


def book(base_url: str) -> dict[str, Any]:
    started = post(
        base_url,
        "/api/bookings",
        {
            "customer_id": "LOY-1003",
            "flight_ids": [flight_id("FS101", 1)],
            "passengers": [{"first_name": "Ada", "last_name": "Lovelace"}],
            "card": {
                "number": "4242 4242 4242 4242",
                "exp_month": 12,
                "exp_year": 2031,
                "cvc": "123",
                "holder_name": "Ada Lovelace",
            },
        },
    )
    return terminal(base_url, started["saga_id"])


def test_a_trip_is_listed_by_its_kind_and_its_page_shows_its_own_two_steps(
    page: Page, base_url: str
) -> None:
    sold_out = start_trip(base_url, city="PAR", car_class="suv")
    done = start_trip(base_url)
    assert (sold_out["status"], done["status"]) == ("COMPENSATED", "COMPLETED")
    booking = book(base_url)
    trip_id, done_id, booking_id = sold_out["saga_id"], done["saga_id"], booking["saga_id"]

    page.goto("/sagas")
    row = tid(page, f"saga-row-{trip_id}")
    expect(row).to_have_attribute("data-saga", "trip")
    expect(row).to_have_attribute("data-status", "COMPENSATED")
    expect(tid(page, f"saga-kind-{trip_id}")).to_have_text("trip")
    expect(tid(page, f"saga-input-{trip_id}")).to_have_text("Ann Lee PAR 2030-06-10 3 suv")
    expect(tid(page, f"saga-compensated-{trip_id}")).to_have_text("book")
    expect(tid(page, f"saga-step-{trip_id}-book_room")).to_have_attribute(
        "title", "Book room: compensated"
    )
    expect(tid(page, f"saga-step-{trip_id}-rent_car")).to_have_attribute(
        "data-state", "STEP_FAILED"
    )
    expect(tid(page, f"saga-error-{trip_id}")).to_contain_text("no suv cars left in PAR")
    # A completed trip shows its facts where a booking shows its reference.
    facts = tid(page, f"saga-facts-{done_id}")
    expect(facts).to_contain_text(f"reservation_id={done['facts']['reservation_id']}")
    expect(facts).to_contain_text(f"total_cents={done['facts']['total_cents']}")
    # A booking's row as ever: no kind, its reference.
    booking_row = tid(page, f"saga-row-{booking_id}")
    expect(booking_row).to_have_attribute("data-saga", "book_flight")
    expect(tid(page, f"saga-kind-{booking_id}")).to_have_count(0)
    expect(booking_row).to_contain_text(booking["booking_reference"])
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "sagas_with_trips.png"), full_page=True)

    tid(page, f"saga-link-{trip_id}").click()
    expect(tid(page, "saga-status")).to_have_attribute("data-status", "COMPENSATED")
    expect(tid(page, "page-title")).to_have_text("Trip saga")
    expect(page).to_have_title(f"Trip saga {trip_id[:8]} (compensated) · FlightSaga")
    expect(tid(page, "saga-view-what")).to_contain_text("Book a trip (hotel + car)")
    expect(tid(page, "new-scenario")).to_have_attribute("href", "/sagas")
    cards = page.locator(".step-box")
    expect(cards).to_have_count(2)
    expect(cards.nth(0)).to_have_attribute("data-testid", "flow-step-book_room")
    expect(cards.nth(1)).to_have_attribute("data-testid", "flow-step-rent_car")
    expect(tid(page, "flow-title-book_room")).to_have_text("1. Book room")
    expect(tid(page, "flow-title-book_room")).to_have_attribute("title", "Book Room")
    expect(tid(page, "flow-title-rent_car")).to_have_attribute("title", "Rent Car")
    expect(tid(page, "flow-step-book_room")).to_contain_text("compensation: cancel the room")
    expect(tid(page, "flow-step-rent_car")).to_contain_text("compensation: return the car")
    expect(tid(page, "flow-step-book_room")).to_have_attribute("data-state", "COMPENSATED_STEP")
    expect(tid(page, "flow-step-rent_car")).to_have_attribute("data-state", "STEP_FAILED")
    expect(page.get_by_text("Fail at Book Room")).to_be_hidden()  # no scenario controls here
    comps = page.locator("li.compensation")
    expect(comps).to_have_count(1)
    expect(comps.nth(0)).to_have_attribute("data-testid", "compensation-book_room")
    expect(tid(page, "saga-input")).to_contain_text('"city":"PAR"')
    expect(tid(page, "saga-error")).to_contain_text("no suv cars left in PAR")
    expect(tid(page, "facts-result")).to_be_hidden()
    expect(tid(page, "saga-log")).to_contain_text("compensation_succeeded step=book_room")
    expect(tid(page, "proof")).to_be_hidden()  # the proof reads a booking's participants
    page.screenshot(path=str(SCREENSHOTS / "trip_saga_page.png"), full_page=True)

    # A completed trip: its facts, each step's reply.
    page.goto(f"/test?saga={done_id}")
    expect(tid(page, "saga-status")).to_have_attribute("data-status", "COMPLETED")
    expect(tid(page, "facts-result")).to_contain_text("Trip completed")
    expect(tid(page, "saga-facts")).to_contain_text(f"rental_id={done['facts']['rental_id']}")
    expect(tid(page, "timeline-row-rent_car")).to_contain_text("rental_id=")
    expect(tid(page, "booking-result")).to_be_hidden()

    # A booking opened afterwards: its four steps, its proof.
    page.goto(f"/test?saga={booking_id}")
    expect(tid(page, "saga-status")).to_have_attribute("data-status", "COMPLETED")
    expect(tid(page, "page-title")).to_have_text("Booking saga")
    expect(page.locator(".step-box")).to_have_count(4)
    for step in BOOKING_STEPS:
        expect(tid(page, f"flow-step-{step}")).to_have_attribute("data-state", "SUCCEEDED")
    expect(tid(page, "flow-title-process_payment")).to_have_attribute("title", "Process Payment")
    expect(tid(page, "saga-input-line")).to_be_hidden()
    expect(tid(page, "booking-reference")).to_have_text(booking["booking_reference"])
    expect(tid(page, "proof-booking-state")).to_have_text("confirmed")


def test_start_a_trip_from_the_sagas_page_and_see_the_field_named_when_wrong(
    page: Page,
) -> None:
    page.goto("/sagas")
    page.locator("#start-saga summary").click()
    expect(tid(page, "start-kind")).to_have_value("trip@1")
    prefilled = json.loads(tid(page, "start-input").input_value())
    assert prefilled == {"guest": "", "city": "", "check_in": "", "nights": "", "car_class": ""}
    expect(tid(page, "start-fail-rent_car")).to_be_visible()

    trip = {"guest": "Bo Kim", "city": "P1", "check_in": CHECK_IN, "nights": 2}
    tid(page, "start-input").fill(json.dumps(trip))
    tid(page, "start-submit").click()
    expect(tid(page, "error-input")).to_contain_text("input.city")
    expect(tid(page, "error-input")).to_contain_text("3 letters")
    assert "/sagas" in page.url
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "start_saga_error.png"), full_page=True)

    tid(page, "start-input").fill(json.dumps({**trip, "city": "NYC"}))
    tid(page, "start-submit").click()
    expect(tid(page, "page-title")).to_have_text("Trip saga")
    expect(tid(page, "saga-status")).to_have_attribute("data-status", "COMPLETED")
    expect(tid(page, "saga-input")).to_contain_text('"guest":"Bo Kim"')
    expect(tid(page, "saga-facts")).to_contain_text("reservation_id=")
    expect(page.locator(".step-box")).to_have_count(2)
