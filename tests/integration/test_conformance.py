"""`flightsaga conform`, the real CLI as a subprocess, against real participants on real ports:
every participant of both sagas keeps the contract, and each deliberately broken one fails it,
naming exactly the clauses it breaks. The kit's pytest fixture runs the same clauses in-process.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from examples.trip import TRIP
from sagas.booking import BOOK_FLIGHT
from testkit import Report
from testkit.pytest_plugin import Conformance
from tests.support.broken_participants import BROKEN, running_broken
from tests.support.services import running_service

# (service package, --step, --saga)
PARTICIPANTS = [
    ("seat_service", "reserve_seat", "book_flight"),
    ("loyalty_service", "loyalty", "book_flight"),
    ("payment_service", "payment", "book_flight"),
    ("booking_service", "confirm_booking", "book_flight"),
    ("examples.trip.hotel_service", "book_room", "examples.trip"),
    ("examples.trip.car_service", "car", "examples.trip"),
]


async def flightsaga(*args: str) -> tuple[int, str]:
    """The CLI in a subprocess (the servers run on this test's event loop)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def conform_json(addr: str, *args: str) -> tuple[int, dict[str, Any]]:
    code, out = await flightsaga("conform", addr, "--json", *args)
    return code, json.loads(out)


@pytest.mark.parametrize(("service", "step", "saga"), PARTICIPANTS, ids=lambda v: str(v))
async def test_every_participant_of_both_sagas_conforms_on_sqlite_and_postgresql(
    tmp_path: Path, database_url: Callable[[str], str], service: str, step: str, saga: str
) -> None:
    async with running_service(service, tmp_path, urls=database_url) as addr:
        code, report = await conform_json(addr, "--step", step, "--saga", saga)
    assert report["failed"] == [], json.dumps(report, indent=1)
    assert code == 0
    assert len(report["clauses"]) == 8


@pytest.mark.parametrize("name", sorted(BROKEN))
async def test_a_broken_participant_fails_conform_naming_the_clauses_it_breaks(
    tmp_path: Path, name: str
) -> None:
    _, must, maybe = BROKEN[name]
    async with running_broken(name, tmp_path) as addr:
        code, report = await conform_json(addr, "--step", "deduct_loyalty_points")
    assert code == 1
    failed = set(report["failed"])
    assert must <= failed <= must | maybe, failed
    for clause in report["clauses"]:
        if not clause["passed"]:
            assert clause["problems"] and clause["evidence"]


async def test_the_text_report_shows_the_evidence_of_a_failed_clause(tmp_path: Path) -> None:
    async with running_broken("compensates_twice", tmp_path) as addr:
        code, out = await flightsaga("conform", addr, "--step", "loyalty")
    assert code == 1
    assert "PASS  repeated_do" in out
    assert "FAIL  repeated_compensate" in out
    assert "the repeated Compensate changed the effects (2 -> 3)" in out
    assert "records of conform-" in out and "refund" in out
    assert out.rstrip().endswith("FAILED: repeated_compensate")


async def test_conform_says_when_nobody_answers_and_refuses_an_unknown_step(
    tmp_path: Path,
) -> None:
    async with running_service("seat_service", tmp_path) as addr:
        code, out = await flightsaga("conform", addr, "--step", "fly")
        assert code == 2 and "unknown step 'fly'" in out
    code, out = await flightsaga("conform", addr, "--step", "seat")
    assert code == 3 and "does not answer" in out


async def test_the_kits_fixture_runs_the_same_clauses_in_a_projects_tests(
    tmp_path: Path, conformance: Conformance
) -> None:
    async with running_service("examples.trip.hotel_service", tmp_path) as addr:
        report: Report = await conformance(addr, TRIP, "book_room")
    assert report.passed and not report.failed
    async with running_broken("accepts_late_do", tmp_path) as addr:
        broken: Report = await conformance(addr, BOOK_FLIGHT, "loyalty", expect=False)
    assert "late_do" in broken.failed
