"""The dashboard's JSON API (real uvicorn) over the real orchestrator and participant servers."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from dashboard.config import DashboardConfig
from tests.support.dashboard_stack import dashboard_config, running_dashboard
from tests.support.dates import at, flight_date, flight_id
from tests.support.stack import Stack, running_stack

FLIGHT = flight_id("FS101", 1)
TERMINAL = {"COMPLETED", "COMPENSATED", "FAILED"}


def booking(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "customer_id": "LOY-1001",
        "flight_ids": [FLIGHT],
        "passengers": [{"first_name": "Ada", "last_name": "Lovelace"}],
        "cabin_class": "ECONOMY",
        "loyalty_points": 700,
        "card": {
            "number": "4242 4242 4242 4242",
            "exp_month": 12,
            "exp_year": 2031,
            "cvc": "123",
            "holder_name": "Ada Lovelace",
        },
    }
    body.update(changes)
    return body


@dataclass
class Dash:
    stack: Stack
    http: httpx.AsyncClient

    async def book(self, **changes: Any) -> dict[str, Any]:
        reply = await self.http.post("/api/bookings", json=booking(**changes))
        assert reply.status_code == 202, reply.text
        out: dict[str, Any] = reply.json()
        return out

    async def terminal(self, saga_id: str, timeout: float = 30.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                saga: dict[str, Any] = (await self.http.get(f"/api/sagas/{saga_id}")).json()
                if saga["status"] in TERMINAL:
                    return saga
                await asyncio.sleep(0.05)

    async def total(self) -> int:
        reply = await self.http.get("/api/sagas")
        assert reply.status_code == 200, reply.text
        total: int = reply.json()["total"]
        return total


@pytest.fixture
async def dash(tmp_path: Path) -> AsyncIterator[Dash]:
    async with (
        running_stack(tmp_path) as stack,
        running_dashboard(dashboard_config(stack)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        yield Dash(stack, http)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def sse_frames(http: httpx.AsyncClient, path: str, **headers: str) -> list[dict[str, Any]]:
    """Read a server-sent-events stream to its end: [{"event", "id", "data"}, ...]."""
    frames: list[dict[str, Any]] = []
    async with http.stream("GET", path, headers=headers) as reply:
        assert reply.status_code == 200
        assert reply.headers["content-type"].startswith("text/event-stream")
        frame: dict[str, Any] = {}
        async for line in reply.aiter_lines():
            if not line:
                if "event" in frame:
                    frames.append(frame)
                frame = {}
            elif line.startswith("event: "):
                frame["event"] = line[7:]
            elif line.startswith("id: "):
                frame["id"] = int(line[4:])
            elif line.startswith("data: "):
                frame["data"] = json.loads(line[6:])
    return frames


# ---------------------------------------------------------------------------- happy paths


async def test_healthz_reports_every_peer(dash: Dash) -> None:
    reply = await dash.http.get("/healthz")
    assert reply.status_code == 200
    peers = reply.json()["peers"]
    assert {p["status"] for p in peers.values()} == {"SERVING"}
    assert peers["orchestrator"]["env"] == "ORCHESTRATOR_ADDR"


async def test_success_booking_returns_saga_id_and_completes(dash: Dash) -> None:
    started = await dash.book()
    assert started["status"] in {"RUNNING", "COMPLETED"}
    assert started["links"]["events"] == f"/api/sagas/{started['saga_id']}/events"
    saga = await dash.terminal(started["saga_id"])
    assert saga["status"] == "COMPLETED"
    assert len(saga["booking_reference"]) == 6
    assert [s["state"] for s in saga["steps"]] == ["SUCCEEDED"] * 4
    assert saga["correlation_id"] == started["correlation_id"]
    assert saga["idempotency_key"] == started["idempotency_key"]
    assert saga["request"]["card"]["number"] == "****4242"
    proof = (await dash.http.get(f"/api/sagas/{saga['saga_id']}/proof")).json()
    assert [proof[k]["state"] for k in ("seat", "loyalty", "payment", "booking")] == [
        "held",
        "deducted",
        "charged",
        "confirmed",
    ]
    assert proof["loyalty"]["deducted"] == 700
    assert proof["booking"]["booking_reference"] == saga["booking_reference"]


async def test_fail_at_payment_compensates_two_steps_in_reverse(dash: Dash) -> None:
    started = await dash.book(fail_at=["process_payment"])
    saga = await dash.terminal(started["saga_id"])
    assert saga["status"] == "COMPENSATED"
    assert saga["compensation_order"] == ["deduct_loyalty_points", "reserve_seat"]
    assert saga["fault_plan"] == "process_payment:fail"
    proof = (await dash.http.get(f"/api/sagas/{saga['saga_id']}/proof")).json()
    assert proof["seat"]["state"] == "released"
    assert proof["loyalty"]["state"] == "refunded"
    assert proof["loyalty"]["refunded"] == proof["loyalty"]["deducted"] == 700
    assert proof["payment"]["state"] == "none"
    assert proof["booking"]["state"] == "none"


async def test_fail_at_booking_refunds_the_payment(dash: Dash) -> None:
    started = await dash.book(fail_at=["booking"])
    saga = await dash.terminal(started["saga_id"])
    assert saga["compensation_order"][-3:] == [
        "process_payment",
        "deduct_loyalty_points",
        "reserve_seat",
    ]
    proof = (await dash.http.get(f"/api/sagas/{saga['saga_id']}/proof")).json()
    assert proof["payment"]["state"] == "refunded"
    assert proof["payment"]["refunded_cents"] == proof["payment"]["charged_cents"] > 0


async def test_transient_fault_is_retried_and_shown_as_attempts(dash: Dash) -> None:
    started = await dash.book(faults=[{"step": "payment", "kind": "transient", "arg": 2}])
    saga = await dash.terminal(started["saga_id"])
    assert saga["status"] == "COMPLETED"
    payment = next(s for s in saga["steps"] if s["name"] == "process_payment")
    assert payment["attempts"] == 3


async def test_a_slow_saga_answers_at_once_with_its_id(dash: Dash) -> None:
    """The POST does not wait for the saga: its id comes from ListSagas by idempotency key."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    started = await dash.book(faults=[{"step": "payment", "kind": "delay"}])
    assert loop.time() - began < 2.0
    assert started["status"] == "RUNNING"
    frames = await sse_frames(dash.http, started["links"]["events"])
    retries = [
        f["data"]
        for f in frames
        if f["event"] == "saga_event" and f["data"]["type"] == "STEP_RETRYING"
    ]
    assert retries and all(r["step"] == "process_payment" for r in retries)
    assert frames[-1]["event"] == "end"
    assert frames[-1]["data"]["status"] == "COMPENSATED"


async def test_events_stream_the_timeline_then_end(dash: Dash) -> None:
    started = await dash.book(fail_at=["payment"])
    sid = started["saga_id"]
    frames = await sse_frames(dash.http, f"/api/sagas/{sid}/events")
    kinds = [f["event"] for f in frames]
    assert kinds[0] == "saga" and kinds[-1] == "end"
    events = [f["data"] for f in frames if f["event"] == "saga_event"]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert [f["id"] for f in frames if f["event"] == "saga_event"] == [e["seq"] for e in events]
    types = [e["type"] for e in events]
    assert types[0] == "SAGA_STARTED" and types[-1] == "SAGA_COMPENSATED"
    comps = [e["step"] for e in events if e["type"] == "COMPENSATION_SUCCEEDED"]
    assert comps == ["deduct_loyalty_points", "reserve_seat"]
    assert all(e["correlation_id"] == started["correlation_id"] for e in events)
    assert "[COMPENSATION]" in next(
        e["log"] for e in events if e["step"] == "reserve_seat" and e["type"].startswith("COMP")
    )
    assert frames[-1]["data"]["status"] == "COMPENSATED"
    # A reconnect resumes after Last-Event-ID.
    again = await sse_frames(dash.http, f"/api/sagas/{sid}/events", **{"Last-Event-ID": "3"})
    assert next(f["data"]["seq"] for f in again if f["event"] == "saga_event") == 4


async def test_log_lines_from_the_timeline_and_every_participant(
    dash: Dash, caplog: pytest.LogCaptureFixture
) -> None:
    # The services run in this process: log at INFO, as a service does by default (LOG_LEVEL).
    caplog.set_level(logging.INFO)
    started = await dash.book(fail_at=["payment"])
    await dash.terminal(started["saga_id"])
    log = (await dash.http.get(f"/api/sagas/{started['saga_id']}/log")).json()
    text = "\n".join(log["lines"])
    for marker in ("[SAGA]", "[SAGA STEP]", "[COMPENSATION]"):
        assert marker in text
    assert all(f"cid={started['correlation_id']}" in line for line in log["lines"])
    assert log["missing"] == []
    # The participants' own lines for this saga are there too (seats held then released,
    # points deducted then refunded), in time order with the orchestrator's.
    seat = [ln for ln in log["lines"] if " seat_service " in ln]
    loyalty = [ln for ln in log["lines"] if " loyalty_service " in ln]
    assert seat and loyalty, text
    stamps = [ln.split(" ", 1)[0] for ln in log["lines"]]
    assert stamps == sorted(stamps)
    assert all(f"saga={started['saga_id']}" in ln for ln in log["lines"])


async def test_same_idempotency_key_is_the_same_saga(dash: Dash) -> None:
    first = await dash.book(idempotency_key="ui-retry-1")
    await dash.terminal(first["saga_id"])
    second = await dash.book(idempotency_key="ui-retry-1")
    assert second["saga_id"] == first["saga_id"]
    assert second["replayed"] is True
    assert await dash.total() == 1


async def test_correlation_id_header_flows_into_the_saga(dash: Dash) -> None:
    reply = await dash.http.post(
        "/api/bookings", json=booking(), headers={"X-Correlation-ID": "ui-cid-42"}
    )
    assert reply.status_code == 202
    assert reply.headers["x-correlation-id"] == "ui-cid-42"
    saga = await dash.terminal(reply.json()["saga_id"])
    assert saga["correlation_id"] == "ui-cid-42"


async def test_list_filters_and_pages(dash: Dash) -> None:
    ok = await dash.book()
    bad = await dash.book(fail_at=["seat"])
    for s in (ok, bad):
        await dash.terminal(s["saga_id"])
    page = (await dash.http.get("/api/sagas", params={"page_size": 1})).json()
    assert page["total"] == 2 and len(page["sagas"]) == 1 and page["next_page_token"]
    assert page["sagas"][0]["saga_id"] == bad["saga_id"]  # newest first
    rest = (
        await dash.http.get(
            "/api/sagas", params={"page_size": 1, "page_token": page["next_page_token"]}
        )
    ).json()
    assert rest["sagas"][0]["saga_id"] == ok["saga_id"] and rest["next_page_token"] == ""
    only = (await dash.http.get("/api/sagas", params={"status": "compensated"})).json()
    assert [s["saga_id"] for s in only["sagas"]] == [bad["saga_id"]]
    reply = await dash.http.get("/api/sagas", params={"status": "sideways"})
    assert reply.status_code == 400 and reply.json()["field"] == "status"


async def test_stats_count_by_state(dash: Dash) -> None:
    for s in [await dash.book(), await dash.book(fail_at=["payment"])]:
        await dash.terminal(s["saga_id"])
    stats = (await dash.http.get("/api/stats")).json()
    assert (stats["completed"], stats["compensated"], stats["failed"], stats["total"]) == (
        1,
        1,
        0,
        2,
    )
    assert stats["compensations_completed"] == 2


async def test_resume_a_failed_saga_with_faults_cleared(dash: Dash) -> None:
    started = await dash.book(
        fail_at=["confirm_booking"], faults=["payment:compensate-fail=always"]
    )
    saga = await dash.terminal(started["saga_id"])
    assert saga["status"] == "FAILED"
    failed = (await dash.http.get("/api/sagas", params={"status": "FAILED"})).json()
    assert [s["saga_id"] for s in failed["sagas"]] == [saga["saga_id"]]
    reply = await dash.http.post(
        f"/api/sagas/{saga['saga_id']}/resume", json={"clear_faults": True}
    )
    assert reply.status_code in (200, 202), reply.text
    done = await dash.terminal(saga["saga_id"])
    assert done["status"] == "COMPENSATED"
    assert done["fault_plan"] == ""
    proof = (await dash.http.get(f"/api/sagas/{saga['saga_id']}/proof")).json()
    assert proof["payment"]["state"] == "refunded"
    assert proof["seat"]["state"] == "released"


async def test_flight_search(dash: Dash) -> None:
    reply = await dash.http.get(
        "/api/flights",
        params={
            "origin": "jfk",
            "destination": "LAX",
            "date": flight_date(1),
            "return_date": flight_date(8),
        },
    )
    assert reply.status_code == 200, reply.text
    found = reply.json()
    assert found["outbound"][0]["flight_id"] == FLIGHT
    assert found["inbound"] and found["inbound"][0]["origin"] == "LAX"
    assert found["count"] == len(found["outbound"]) + len(found["inbound"])
    # Times local to each airport, with its zone (EST or EDT in New York, PST or PDT in LA).
    first = found["outbound"][0]
    departure = at(1, time(8))
    assert first["departure_local"] == departure.strftime("%Y-%m-%d %H:%M %Z")
    la = ZoneInfo("America/Los_Angeles")
    arrival = (departure + timedelta(minutes=385)).astimezone(la)
    assert first["arrival_local"].endswith(f" {arrival:%Z}")
    assert found["inbound"][0]["departure_local"].endswith(f" {at(8, time(12), la):%Z}")
    assert not any(leg["departed"] for leg in found["outbound"] + found["inbound"])
    gone = await dash.http.get(
        "/api/flights", params={"origin": "JFK", "destination": "LAX", "date": flight_date(-1)}
    )
    assert gone.status_code == 200, gone.text
    assert [leg["departed"] for leg in gone.json()["outbound"]] == [True, True, True]
    empty = await dash.http.get(
        "/api/flights", params={"origin": "BOS", "destination": "LHR", "date": flight_date(1)}
    )
    assert empty.status_code == 200 and empty.json()["count"] == 0


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"origin": "JFKK", "destination": "LAX", "date": flight_date(1)}, "origin"),
        ({"origin": "JFK", "destination": "LAX", "date": "tomorrow"}, "date"),
        ({"origin": "JFK", "destination": "LAX"}, "date"),
        (
            {"origin": "JFK", "destination": "LAX", "date": flight_date(1), "passengers": 0},
            "passengers",
        ),
    ],
)
async def test_flight_search_errors_name_the_field(
    dash: Dash, params: dict[str, Any], field: str
) -> None:
    reply = await dash.http.get("/api/flights", params=params)
    assert reply.status_code == 400
    assert reply.json()["field"] == field
    assert reply.json()["error"].startswith(f"{field}: ")


# ---------------------------------------------------------------------------- bad requests


BAD_BODIES: list[tuple[str, Any, str]] = [
    ("not json", b"{not json", "body"),
    ("empty", b"", "body"),
    ("a list", [1, 2], "body"),
    ("missing card", {k: v for k, v in booking().items() if k != "card"}, "card"),
    ("wrong type", booking(loyalty_points="lots"), "loyalty_points"),
    ("negative points", booking(loyalty_points=-5), "loyalty_points"),
    ("unknown field", booking(custmer_id="LOY-1001"), "custmer_id"),
    ("no passengers", booking(passengers=[]), "passengers"),
    (
        "passenger name",
        booking(passengers=[{"first_name": "", "last_name": "X"}]),
        "passengers[0].first_name",
    ),
    ("cabin", booking(cabin_class="cargo"), "cabin_class"),
    ("luhn", booking(card={**booking()["card"], "number": "4242424242424241"}), "card.number"),
    ("expired", booking(card={**booking()["card"], "exp_year": 2020}), "card.exp_year"),
    ("cvc", booking(card={**booking()["card"], "cvc": "1"}), "card.cvc"),
    ("fail_at step", booking(fail_at=["teleport"]), "fail_at[0]"),
    ("fault kind", booking(faults=["payment:explode"]), "faults[0]"),
    (
        "fault arg",
        booking(faults=[{"step": "seat", "kind": "transient", "arg": 0}]),
        "faults[0].arg",
    ),
    ("unknown flight", booking(flight_ids=[flight_id("FS999", 1)]), "flight_ids[0]"),
    ("unknown customer", booking(customer_id=""), "customer_id"),
]


@pytest.mark.parametrize(("case", "payload", "field"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
async def test_bad_bookings_are_400_naming_the_field_and_create_nothing(
    dash: Dash, case: str, payload: Any, field: str
) -> None:
    before = await dash.total()
    if isinstance(payload, bytes):
        reply = await dash.http.post(
            "/api/bookings", content=payload, headers={"Content-Type": "application/json"}
        )
    else:
        reply = await dash.http.post("/api/bookings", json=payload)
    assert reply.status_code == 400, reply.text
    out = reply.json()
    assert out["field"] == field, out
    assert out["error"].startswith(f"{field}: ")
    assert await dash.total() == before


async def test_a_departed_flight_is_409_naming_the_field_and_creates_nothing(dash: Dash) -> None:
    before = await dash.total()
    gone = flight_id("FS101", -1)
    reply = await dash.http.post("/api/bookings", json=booking(flight_ids=[gone]))
    assert reply.status_code == 409, reply.text
    out = reply.json()
    assert (out["field"], out["reason"], out["code"]) == (
        "flight_ids[0]",
        "FLIGHT_DEPARTED",
        "FAILED_PRECONDITION",
    )
    assert out["error"].startswith(f"flight_ids[0]: flight {gone} departed at "), out
    assert await dash.total() == before


@pytest.mark.parametrize("suffix", ["", "/events", "/proof", "/log"])
async def test_unknown_saga_is_404(dash: Dash, suffix: str) -> None:
    reply = await dash.http.get(f"/api/sagas/nope{suffix}")
    assert reply.status_code == 404
    assert "nope" in reply.json()["error"]


async def test_resume_unknown_saga_is_404(dash: Dash) -> None:
    reply = await dash.http.post("/api/sagas/nope/resume", json={"clear_faults": True})
    assert reply.status_code == 404
    assert (await dash.http.post("/api/sagas/nope/resume")).status_code == 404  # body optional


async def test_a_body_that_is_not_json_says_so(dash: Dash) -> None:
    reply = await dash.http.post(
        "/api/bookings", content=b"customer=LOY-1001", headers={"Content-Type": "text/plain"}
    )
    assert reply.status_code == 400
    assert reply.json()["error"] == "body: must be a JSON object (Content-Type: application/json)"


async def test_openapi_describes_the_api(dash: Dash) -> None:
    schema = (await dash.http.get("/openapi.json")).json()
    for path in (
        "/api/bookings",
        "/api/sagas",
        "/api/sagas/{saga_id}",
        "/api/sagas/{saga_id}/events",
        "/api/sagas/{saga_id}/resume",
        "/api/sagas/{saga_id}/proof",
        "/api/sagas/{saga_id}/log",
        "/api/stats",
        "/api/flights",
    ):
        assert path in schema["paths"], path
    assert "fail_at" in schema["components"]["schemas"]["BookingIn"]["properties"]


async def test_pages_are_served_without_outside_assets(dash: Dash) -> None:
    for page in ("/", "/test", "/saga/test", "/sagas", "/flights"):
        reply = await dash.http.get(page)
        assert reply.status_code == 200 and "text/html" in reply.headers["content-type"]
        assert "http://" not in reply.text and "https://" not in reply.text
    css = await dash.http.get("/static/style.css")
    assert css.status_code == 200 and "@import" not in css.text


async def test_the_test_page_keeps_its_first_address(dash: Dash) -> None:
    """/saga/test (where the seed served it, and older links point) is the test page too."""
    old = await dash.http.get("/saga/test?saga=abc")
    assert old.status_code == 200, old.text
    assert old.text == (await dash.http.get("/test")).text
    assert "<title>SAGA test" in old.text


async def test_favicon_is_served(dash: Dash) -> None:
    # Browsers ask for /favicon.ico whatever the page says; the pages link the SVG.
    for path in ("/favicon.ico", "/static/favicon.svg"):
        reply = await dash.http.get(path)
        assert reply.status_code == 200, path
        assert reply.headers["content-type"].startswith("image/svg+xml"), path
        assert reply.text.lstrip().startswith("<svg"), path
    for page in ("/test", "/sagas", "/flights"):
        html = (await dash.http.get(page)).text
        assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in html, page


# ---------------------------------------------------------------------------- peers down


async def test_orchestrator_unreachable_is_503_naming_the_address() -> None:
    addr = f"127.0.0.1:{free_port()}"
    config = DashboardConfig.local(orchestrator=addr)
    async with (
        running_dashboard(config) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        expected = f"orchestrator unreachable at {addr} (ORCHESTRATOR_ADDR)"
        for reply in (
            await http.get("/api/sagas"),
            await http.get("/api/stats"),
            await http.get("/api/sagas/abc"),
            await http.post("/api/bookings", json=booking()),
        ):
            assert reply.status_code == 503, reply.text
            assert reply.json()["error"] == expected
        health = (await http.get("/healthz")).json()
        assert health["peers"]["orchestrator"]["status"] == "UNREACHABLE"


async def test_faults_refused_when_injection_is_disabled(tmp_path: Path) -> None:
    async with (
        running_stack(tmp_path, fault_injection=False) as stack,
        running_dashboard(dashboard_config(stack)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        reply = await http.post("/api/bookings", json=booking(fail_at=["payment"]))
        assert reply.status_code == 409
        assert "fault injection is disabled" in reply.json()["error"]
        assert (await http.get("/api/sagas")).json()["total"] == 0
