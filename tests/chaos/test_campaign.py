"""`flightsaga chaos` end to end: a short campaign on its own stack, and a checker that fails.

Both run the real CLI as a process; the first lets it start, kill and restart its own services,
the second points it (--target) at a stack running in this test, whose records the test
tampers with while the campaign runs: the campaign must exit 1 and name each violation.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from chaos import plan
from chaos.stack import open_peers
from chaos.workload import flight_pool
from flightsaga.v1 import booking_pb2, common_pb2, loyalty_pb2, seat_pb2
from flightsaga.v1 import orchestrator_pb2 as pb
from sagas.peers import Addrs
from tests.support.stack import running_stack

pytestmark = pytest.mark.chaos
ROOT = Path(__file__).resolve().parents[2]


async def flightsaga(*args: str, timeout: float) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli",
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()  # our own child, by its handle
        await proc.wait()
        raise
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_short_campaign_runs_every_phase_kills_by_pid_and_finds_nothing(
    tmp_path: Path,
) -> None:
    report_path = tmp_path / "report.json"
    code, out = await flightsaga(
        "chaos",
        "--seed",
        "3",
        "--sagas",
        "110",
        "--saga-timeout-s",
        "5",
        "--data-dir",
        str(tmp_path / "data"),
        "--report",
        str(report_path),
        timeout=170,
    )
    assert code == 0, out
    doc = json.loads(report_path.read_text())
    assert "invariants: all hold (0 violations)" in out
    assert doc["violations"] == []

    # Every phase kind ran, with bookings, and every service kind was killed in a kill phase.
    ran = {p["kind"] for p in doc["phases"]}
    assert ran == set(plan.PHASE_KINDS)
    assert {p["target"] for p in doc["phases"] if p["kind"] == plan.KILL} == set(plan.SERVICES)
    assert all(p["sagas"] > 0 for p in doc["phases"]), doc["phases"]
    for p in doc["phases"]:
        print(p["name"], p["outcomes"], p["failed"], p["compensated_without_fault"])

    # Kills by pid: each kill -9 hit the pid this campaign started (or restarted) for that
    # service, and the restart got a new pid.
    current: dict[str, int] = {}
    kills: defaultdict[str, int] = defaultdict(int)
    for e in doc["process_events"]:
        if e["action"] in ("start", "restart"):
            assert current.get(e["service"]) != e["pid"]
            current[e["service"]] = e["pid"]
        elif e["action"] in ("kill -9", "SIGSTOP", "SIGCONT"):
            assert e["pid"] == current[e["service"]], e
            kills[e["service"]] += e["action"] == "kill -9"
    assert set(kills) == set(plan.SERVICES)
    assert doc["totals"]["kills"] == sum(kills.values()) >= plan.minimum_kills()
    # Each kill is counted once, in the phase that made it (names repeat across phases).
    assert sum(len(p["kills"]) for p in doc["phases"]) == doc["totals"]["kills"]
    assert any(e["action"] == "SIGSTOP" for e in doc["process_events"])
    outage = next(p for p in doc["phases"] if p["kind"] == plan.LONG_OUTAGE)
    assert outage["outage_s"] > doc["settings"]["saga_timeout_s"]
    assert [k["service"] for k in outage["kills"]] == ["orchestrator"]

    # The report's figures add up, and every saga ended.
    totals = doc["totals"]
    assert set(totals["outcomes"]) <= {"COMPLETED", "COMPENSATED"}
    assert totals["sagas"] == sum(p["sagas"] for p in doc["phases"]) > 100
    assert totals["outcomes"].get("COMPLETED", 0) > 0
    assert totals["outcomes"].get("COMPENSATED", 0) > 0
    hangups = next(p for p in doc["phases"] if p["kind"] == plan.HANGUPS)
    assert hangups["call_errors"].get("DEADLINE_EXCEEDED", 0) > 0
    assert doc["stack"]["local"] and doc["stack"]["env"]["SAGA_TIMEOUT_S"] == "5.0"


async def _tamper(stack_addrs: Addrs) -> dict[str, str]:
    """Once the campaign books, make three wrongs the orchestrator never sees."""
    peers = open_peers(stack_addrs)
    try:
        for _ in range(1200):  # the campaign has taken its snapshot once sagas complete
            if (await peers.orchestrator.GetStats(pb.GetStatsRequest())).completed >= 3:
                break
            await asyncio.sleep(0.05)
        (flight,) = await flight_pool(peers, 1)
        held = await peers.seat.Do(
            seat_pb2.ReserveSeatsRequest(
                saga_id="orphan-seat-1",
                flight_ids=[flight],
                cabin_class=common_pb2.ECONOMY,
                passengers=[common_pb2.Passenger(first_name="Nobody", last_name="Known")],
            )
        )
        await peers.loyalty.Do(
            loyalty_pb2.DeductPointsRequest(
                saga_id="orphan-points-1", account_id="LOY-1004", points=7
            )
        )
        done = await peers.orchestrator.ListSagas(
            pb.ListSagasRequest(status=pb.COMPLETED, page_size=1)
        )
        victim = done.sagas[0].saga_id
        await peers.booking.Compensate(booking_pb2.CancelBookingRequest(saga_id=victim))
        return {"seat": f"{flight}/{held.seats[0].seat}", "victim": victim}
    finally:
        await peers.close()


async def test_the_checker_names_orphans_and_tampered_records(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        addrs = Addrs(
            stack.orchestrator_addr,
            stack.addrs["seat_service"],
            stack.addrs["loyalty_service"],
            stack.addrs["payment_service"],
            stack.addrs["booking_service"],
        )
        report_path = tmp_path / "report.json"
        campaign = asyncio.create_task(
            flightsaga(
                "chaos",
                "--target",
                addrs.orchestrator,
                "--seat-addr",
                addrs.seat,
                "--loyalty-addr",
                addrs.loyalty,
                "--payment-addr",
                addrs.payment,
                "--booking-addr",
                addrs.booking,
                "--sagas",
                "60",
                "--report",
                str(report_path),
                timeout=120,
            )
        )
        wrongs = await asyncio.wait_for(_tamper(addrs), 60)
        code, out = await campaign
    assert code == 1, out
    # Against a target it cannot kill: it says so, loudly.
    assert "SKIPPED kill:" in out and "SKIPPED blackout:" in out
    doc = json.loads(report_path.read_text())
    found = {(v["check"], v["subject"]): v for v in doc["violations"]}
    orphan = found[("orphan seat hold", wrongs["seat"])]
    assert "orphan-seat-1, unknown to the orchestrator" in orphan["found"]
    balance = found[("account balance", "LOY-1004")]
    assert "-7" in balance["found"] or "orphan" in balance["found"]
    assert ("completed: booking confirmed", wrongs["victim"]) in found
    for v in (orphan, balance):
        assert f"VIOLATION {v['check']}: {v['subject']}" in out
    assert len(doc["violations"]) == 3, doc["violations"]
