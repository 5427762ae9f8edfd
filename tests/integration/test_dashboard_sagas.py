"""The dashboard's JSON API over a stack serving two sagas (the booking and the trip example):
real uvicorn, the real orchestrator and the six participants' real servers."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from dashboard.config import DashboardConfig
from examples.trip import trip_pb2
from examples.trip.declaration import CAR, HOTEL
from flightsaga.v1 import orchestrator_pb2
from tests.support.dashboard_stack import dashboard_config, running_dashboard
from tests.support.dates import flight_id
from tests.support.procs import free_port
from tests.support.stack import Stack, running_orchestrator, running_participants, running_stack

BOTH = "sagas.booking,examples.trip"
CHECK_IN = "2030-06-10"
TERMINAL = {"COMPLETED", "COMPENSATED", "FAILED"}
BOOKING_STEPS = ["reserve_seat", "deduct_loyalty_points", "process_payment", "confirm_booking"]


def trip(**changes: Any) -> dict[str, Any]:
    return {"guest": "Ann Lee", "city": "LIS", "check_in": CHECK_IN, "nights": 3, **changes}


@dataclass
class Dash:
    stack: Stack
    http: httpx.AsyncClient

    async def start(self, saga: str = "trip", **body: Any) -> dict[str, Any]:
        reply = await self.http.post("/api/sagas/start", json={"saga": saga, **body})
        assert reply.status_code == 202, reply.text
        out: dict[str, Any] = reply.json()
        return out

    async def terminal(self, saga_id: str, timeout: float = 30.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                reply = await self.http.get(f"/api/sagas/{saga_id}")
                assert reply.status_code == 200, reply.text
                saga: dict[str, Any] = reply.json()
                if saga["status"] in TERMINAL:
                    return saga
                await asyncio.sleep(0.05)

    async def listed(self, saga_id: str, status: str = "") -> dict[str, Any] | None:
        query = f"?status={status}&page_size=200" if status else "?page_size=200"
        reply = await self.http.get(f"/api/sagas{query}")
        assert reply.status_code == 200, reply.text
        return next((s for s in reply.json()["sagas"] if s["saga_id"] == saga_id), None)

    async def stay(self, saga_id: str) -> trip_pb2.Stay:
        stay: trip_pb2.Stay = await self.stack.peers.stub(HOTEL).GetStay(
            trip_pb2.StayRequest(saga_id=saga_id), timeout=5
        )
        return stay

    async def rental(self, saga_id: str) -> trip_pb2.Rental:
        rental: trip_pb2.Rental = await self.stack.peers.stub(CAR).GetRental(
            trip_pb2.RentalRequest(saga_id=saga_id), timeout=5
        )
        return rental


@pytest.fixture
async def dash(tmp_path: Path) -> AsyncIterator[Dash]:
    async with (
        running_stack(tmp_path, SAGAS=BOTH) as stack,
        running_dashboard(dashboard_config(stack)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        yield Dash(stack, http)


async def sse_events(http: httpx.AsyncClient, path: str) -> list[tuple[str, dict[str, Any]]]:
    """A server-sent-events stream read to its end: [(event, data), ...]."""
    frames: list[tuple[str, dict[str, Any]]] = []
    event = ""
    async with http.stream("GET", path) as reply:
        assert reply.status_code == 200
        async for line in reply.aiter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                frames.append((event, json.loads(line[6:])))
    return frames


async def test_saga_types_lists_the_booking_and_the_trip_with_their_steps(dash: Dash) -> None:
    reply = await dash.http.get("/api/saga-types")
    assert reply.status_code == 200, reply.text
    found = {(t["name"], t["version"]): t for t in reply.json()["sagas"]}
    assert set(found) == {("book_flight", 1), ("trip", 1)}
    booking, trip_type = found["book_flight", 1], found["trip", 1]
    assert [s["name"] for s in booking["steps"]] == BOOKING_STEPS
    assert trip_type["latest"] is True
    assert trip_type["title"] == "Book a trip (hotel + car)"
    assert trip_type["input_type"] == "flightsaga.examples.trip.v1.TripRequest"
    assert trip_type["input_fields"] == [
        "guest",
        "city",
        "check_in",
        "nights",
        "car_class",
        "owner",
    ]
    assert trip_type["steps"] == [
        {
            "name": "book_room",
            "title": "Book Room",
            "short": "Book room",
            "undo": "cancel the room",
            "aliases": ["hotel", "room"],
            "participant": "hotel",
        },
        {
            "name": "rent_car",
            "title": "Rent Car",
            "short": "Rent car",
            "undo": "return the car",
            "aliases": ["car"],
            "participant": "car",
        },
    ]
    # The booking pages' own declaration routes answer as before.
    declared = (await dash.http.get("/api/saga/booking")).json()
    assert [s["name"] for s in declared["steps"]] == BOOKING_STEPS
    script = await dash.http.get("/saga/booking.js")
    assert script.status_code == 200 and "const STEPS = " in script.text


async def test_healthz_reports_the_trip_participants_too(dash: Dash) -> None:
    peers = (await dash.http.get("/healthz")).json()["peers"]
    assert {"hotel service", "car rental service", "seat service"} <= set(peers)
    assert {p["status"] for p in peers.values()} == {"SERVING"}
    assert peers["hotel service"]["env"] == "HOTEL_SERVICE_ADDR"


async def test_a_trip_started_from_the_dashboard_is_listed_with_its_input_and_facts(
    dash: Dash,
) -> None:
    started = await dash.start(input=trip())
    assert (started["saga"], started["saga_version"]) == ("trip", 1)
    assert started["links"]["page"] == f"/test?saga={started['saga_id']}"
    saga = await dash.terminal(started["saga_id"])
    assert saga["status"] == "COMPLETED", saga
    listed = await dash.listed(started["saga_id"])
    assert listed is not None
    assert (listed["saga"], listed["saga_version"]) == ("trip", 1)
    assert listed["input"] == trip()
    assert listed["booking_reference"] == ""
    stay, rental = await dash.stay(saga["saga_id"]), await dash.rental(saga["saga_id"])
    assert (stay.state, rental.state) == ("booked", "booked")
    assert listed["facts"]["reservation_id"] == stay.reservation_id != ""
    assert listed["facts"]["rental_id"] == rental.rental_id != ""
    assert listed["facts"]["total_cents"] > 0
    assert [s["name"] for s in listed["steps"]] == ["book_room", "rent_car"]
    assert {s["state"] for s in listed["steps"]} == {"SUCCEEDED"}


async def test_a_trip_started_through_the_grpc_api_shows_in_the_dashboard(dash: Dash) -> None:
    start = orchestrator_pb2.StartSagaRequest(saga="trip", request_id=uuid.uuid4().hex, wait=True)
    start.input.update(trip(city="PAR", nights=2))
    saga = await dash.stack.orchestrator.StartSaga(start, timeout=30)
    shown = (await dash.http.get(f"/api/sagas/{saga.saga_id}")).json()
    assert (shown["saga"], shown["status"]) == ("trip", "COMPLETED")
    assert shown["input"]["city"] == "PAR" and shown["input"]["nights"] == 2
    assert shown["facts"]["rental_id"]
    # Its events, live or after the fact, as a booking's.
    frames = await sse_events(dash.http, f"/api/sagas/{saga.saga_id}/events")
    assert frames[-1][0] == "end" and frames[-1][1]["status"] == "COMPLETED"
    steps = [d["step"] for e, d in frames if e == "saga_event" and d["type"] == "STEP_SUCCEEDED"]
    assert steps == ["book_room", "rent_car"]


async def test_a_trip_whose_car_is_sold_out_gives_the_room_back(dash: Dash) -> None:
    started = await dash.start(input=trip(city="PAR", car_class="suv"))
    saga = await dash.terminal(started["saga_id"])
    assert saga["status"] == "COMPENSATED", saga
    assert saga["compensation_order"] == ["book_room"]
    states = {s["name"]: s["state"] for s in saga["steps"]}
    assert states == {"book_room": "COMPENSATED_STEP", "rent_car": "STEP_FAILED"}
    assert "no suv cars left in PAR" in saga["error"]
    assert (await dash.stay(saga["saga_id"])).state == "cancelled"
    assert (await dash.rental(saga["saga_id"])).state == ""
    listed = await dash.listed(saga["saga_id"], "COMPENSATED")
    assert listed is not None and listed["compensation_order"] == ["book_room"]


async def test_a_failed_trip_is_resumed_from_the_dashboard(dash: Dash) -> None:
    started = await dash.start(
        input=trip(), fail_at=["car"], faults=["book_room:compensate-fail=always"]
    )
    saga = await dash.terminal(started["saga_id"], timeout=60)
    assert saga["fault_plan"] == "book_room:compensate-fail=always,rent_car:fail"
    assert saga["status"] == "FAILED", saga
    states = {s["name"]: s["state"] for s in saga["steps"]}
    assert states["book_room"] == "COMPENSATION_FAILED"
    assert (await dash.stay(saga["saga_id"])).state == "booked"  # nothing undone yet
    assert await dash.listed(saga["saga_id"], "FAILED") is not None

    reply = await dash.http.post(
        f"/api/sagas/{saga['saga_id']}/resume", json={"clear_faults": True}
    )
    assert reply.status_code == 200, reply.text
    resumed = reply.json()
    assert (resumed["saga"], resumed["status"]) == ("trip", "COMPENSATED")
    assert resumed["compensation_order"] == ["book_room"]
    assert (await dash.stay(saga["saga_id"])).state == "cancelled"
    assert await dash.listed(saga["saga_id"], "FAILED") is None


class Gate:
    """A TCP door in front of a service, for the orchestrator: shut, every connection is closed
    at once (the service is down for it); open, connections are forwarded to the service."""

    def __init__(self, upstream: str) -> None:
        host, _, port = upstream.rpartition(":")
        self.upstream = (host, int(port))
        self.open = False
        self.addr = ""
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Gate:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.addr = f"127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.open:
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pump(src, dst))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        except OSError:
            pass
        finally:
            dst.close()


async def test_a_trip_failed_for_an_unreachable_hotel_is_resumed_from_the_dashboard(
    tmp_path: Path,
) -> None:
    """The hotel is down for the orchestrator: book_room's outcome is unknown, so it is
    compensated, which cannot reach the hotel either: FAILED. With the hotel back, Resume
    (from the dashboard) compensates it, a null compensation since the room was never booked."""
    async with (
        running_participants(tmp_path, sagas=BOTH) as addrs,
        Gate(addrs[HOTEL.package]) as gate,
        running_orchestrator({**addrs, HOTEL.package: gate.addr}, tmp_path, SAGAS=BOTH) as orch,
    ):
        stack = Stack(orch, addrs, tmp_path, sagas=BOTH)
        try:
            async with (
                running_dashboard(dashboard_config(stack)) as url,
                httpx.AsyncClient(base_url=url, timeout=60) as http,
            ):
                dash = Dash(stack, http)
                started = await dash.start(input=trip())
                saga = await dash.terminal(started["saga_id"], timeout=60)
                assert saga["status"] == "FAILED", saga
                states = {s["name"]: s["state"] for s in saga["steps"]}
                assert states == {"book_room": "COMPENSATION_FAILED", "rent_car": "SKIPPED"}
                listed = await dash.listed(saga["saga_id"], "FAILED")
                assert listed is not None and listed["saga"] == "trip"
                assert (await http.get("/api/stats")).json()["failed"] == 1

                gate.open = True
                reply = await http.post(
                    f"/api/sagas/{saga['saga_id']}/resume", json={"clear_faults": True}
                )
                assert reply.status_code == 200, reply.text
                resumed = reply.json()
                assert (resumed["saga"], resumed["status"]) == ("trip", "COMPENSATED")
                assert resumed["compensation_order"] == ["book_room"]
                assert (await dash.stay(saga["saga_id"])).state == ""  # never booked
                assert (await dash.rental(saga["saga_id"])).state == ""
                assert await dash.listed(saga["saga_id"], "FAILED") is None
        finally:
            for channel in stack.channels:
                await channel.close()


async def test_a_trip_log_asks_the_trips_own_participants(dash: Dash) -> None:
    started = await dash.start(input=trip(city="PAR", car_class="suv"))
    await dash.terminal(started["saga_id"])
    path = f"/api/sagas/{started['saga_id']}/log"
    reply = await dash.http.get(path)
    assert reply.status_code == 200, reply.text
    log = reply.json()
    assert log["missing"] == []
    text = "\n".join(log["lines"])
    for marker in ("[SAGA]", "[SAGA STEP]", "[COMPENSATION]"):
        assert marker in text
    assert "compensation_succeeded step=book_room" in text
    # A dashboard that reaches neither the car service nor the seat service misses the car's
    # lines only: a trip's log asks the hotel and the car, not the booking's participants.
    config = dashboard_config(dash.stack)
    dead = f"127.0.0.1:{free_port()}"
    addrs = {name: peer.addr for name, peer in config.participants.items()}
    cut = DashboardConfig.local(
        BOTH, orchestrator=config.orchestrator.addr, **{**addrs, "car": dead, "seat": dead}
    )
    async with (
        running_dashboard(cut) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        reply = await http.get(path)
        assert reply.status_code == 200, reply.text
        assert reply.json()["missing"] == ["car rental service"]


async def test_a_bad_trip_is_refused_naming_the_field_and_creates_no_saga(dash: Dash) -> None:
    before = (await dash.http.get("/api/sagas")).json()["total"]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"saga": "trip", "input": trip(city="P1")}, "input.city"),
        ({"saga": "trip", "input": trip(nights=99)}, "input.nights"),
        ({"saga": "trip", "input": trip(), "fail_at": ["seat"]}, "fail_at"),
        ({"saga": "trip", "input": trip(), "faults": ["car:explode"]}, "faults"),
        ({"saga": "cruise", "input": {}}, "saga"),
        ({"saga": "trip", "version": 7, "input": trip()}, "version"),
        ({"saga": "trip"}, "input"),
        ({"saga": "trip", "input": {}}, "input.guest"),
        ({"saga": "trip", "input": {"guest": "Ann", "cty": "LIS"}}, "input"),
    ]
    for body, field in cases:
        reply = await dash.http.post("/api/sagas/start", json=body)
        assert reply.status_code == 400, (body, reply.text)
        assert reply.json()["field"] == field, (body, reply.json())
    assert (await dash.http.get("/api/sagas")).json()["total"] == before


async def test_the_proof_is_a_bookings_and_a_trip_has_none(dash: Dash) -> None:
    started = await dash.start(input=trip())
    await dash.terminal(started["saga_id"])
    reply = await dash.http.get(f"/api/sagas/{started['saga_id']}/proof")
    assert reply.status_code == 409
    assert reply.json()["field"] == "saga_id"
    assert "trip saga" in reply.json()["error"]


async def test_the_booking_can_be_started_as_any_saga_and_reads_as_a_booking(dash: Dash) -> None:
    booking = {
        "customer_id": "LOY-1001",
        "flight_ids": [flight_id("FS101", 1)],
        "passengers": [{"first_name": "Ada", "last_name": "Lovelace"}],
        "cabin_class": "ECONOMY",
        "card": {
            "number": "4242424242424242",
            "exp_month": 12,
            "exp_year": 2031,
            "cvc": "123",
            "holder_name": "Ada Lovelace",
        },
    }
    started = await dash.start("book_flight", input=booking)
    saga = await dash.terminal(started["saga_id"])
    assert (saga["saga"], saga["status"]) == ("book_flight", "COMPLETED")
    assert len(saga["booking_reference"]) == 6
    proof = (await dash.http.get(f"/api/sagas/{saga['saga_id']}/proof")).json()
    assert proof["booking"]["state"] == "confirmed"
