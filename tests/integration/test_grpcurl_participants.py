"""The participants through the real grpcurl binary: reflection, JSON bodies, x-fail, health.

The server runs on this test's event loop, so grpcurl is run with asyncio subprocesses.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from google.protobuf import json_format

from flightsaga.v1 import common_pb2, seat_pb2
from tests.support.dates import flight_date
from tests.support.participants import CASES, FLIGHT, Case
from tests.support.services import running_service

GRPCURL = str(Path(sys.executable).parent / "grpcurl")
ABORTED_EXIT = 64 + 10  # grpcurl exits 64 + the status code


async def grpcurl(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        GRPCURL,
        "-plaintext",
        "-max-time",
        "10",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.fixture
async def seat_addr(tmp_path: Path) -> AsyncIterator[str]:
    async with running_service("seat_service", tmp_path) as addr:
        yield addr


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_reflection_lists_each_service_and_health(tmp_path: Path, case: Case) -> None:
    async with running_service(case.service, tmp_path) as addr:
        code, out, err = await grpcurl(addr, "list")
        assert code == 0, err
        assert set(out.split()) >= {case.full_name, "grpc.health.v1.Health"}

        code, out, err = await grpcurl(
            "-d", json.dumps({"service": case.full_name}), addr, "grpc.health.v1.Health/Check"
        )
        assert code == 0, err
        assert json.loads(out) == {"status": "SERVING"}


async def test_describe_shows_the_rpcs(seat_addr: str) -> None:
    code, out, err = await grpcurl(seat_addr, "describe", "flightsaga.v1.SeatService")
    assert code == 0, err
    for rpc in ("Do", "Compensate", "SearchFlights", "GetFlight", "GetHolds"):
        assert f"rpc {rpc} (" in out


async def test_do_with_a_json_body_then_read_it_back(seat_addr: str) -> None:
    body = {
        "saga_id": "curl-1",
        "flight_ids": [FLIGHT],
        "cabin_class": "BUSINESS",
        "passengers": [{"first_name": "Ann", "last_name": "Lee"}],
        "seat_selections": [{"flight_id": FLIGHT, "passenger_index": 0, "seat": "3D"}],
    }
    code, out, err = await grpcurl(
        "-d", json.dumps(body), seat_addr, "flightsaga.v1.SeatService/Do"
    )
    assert code == 0, err
    reply = json_format.Parse(out, seat_pb2.ReserveSeatsResponse())
    assert [(s.flight_id, s.seat) for s in reply.seats] == [(FLIGHT, "3D")]
    assert reply.fare_cents > 0 and reply.currency == "USD"

    code, out, err = await grpcurl(
        "-d", '{"saga_id": "curl-1"}', seat_addr, "flightsaga.v1.SeatService/GetHolds"
    )
    assert code == 0, err
    holds = json_format.Parse(out, seat_pb2.SeatHolds())
    assert [h.seat for h in holds.holds] == ["3D"]
    assert holds.barrier[0].do_done


async def test_x_fail_header_produces_the_injected_failure(seat_addr: str) -> None:
    body = json.dumps(
        {
            "saga_id": "curl-2",
            "flight_ids": [FLIGHT],
            "cabin_class": "ECONOMY",
            "passengers": [{"first_name": "Ann", "last_name": "Lee"}],
        }
    )
    code, out, err = await grpcurl(
        "-H", "x-fail: do", "-d", body, seat_addr, "flightsaga.v1.SeatService/Do"
    )
    assert code == ABORTED_EXIT, (out, err)
    assert "Aborted" in err and "injected failure" in err

    code, out, err = await grpcurl(
        "-d", '{"saga_id": "curl-2"}', seat_addr, "flightsaga.v1.SeatService/GetHolds"
    )
    assert code == 0, err
    assert json_format.Parse(out, seat_pb2.SeatHolds()) == seat_pb2.SeatHolds(saga_id="curl-2")


async def test_search_with_grpcurl(seat_addr: str) -> None:
    code, out, err = await grpcurl(
        "-d",
        f'{{"origin": "JFK", "destination": "LHR", "date": "{flight_date(41)}"}}',
        seat_addr,
        "flightsaga.v1.SeatService/SearchFlights",
    )
    assert code == 0, err
    found = json_format.Parse(out, seat_pb2.SearchFlightsResponse())
    assert [leg.flight_number for leg in found.outbound] == ["FS301", "FS303"]
    assert all(leg.cabin_class == common_pb2.ECONOMY for leg in found.outbound)
