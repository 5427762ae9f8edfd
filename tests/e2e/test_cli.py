"""The `flightsaga` CLI against the running stack: what a user types and sees, and exit codes."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest
from google.protobuf import json_format

from flightsaga.v1 import orchestrator_pb2 as pb
from tests.e2e.tools import FLIGHTSAGA, ROUTE, STEPS, Stack, cli, free_ports, run
from tests.support.dates import flight_date, flight_id

pytestmark = pytest.mark.e2e

ORIGIN, DEST, DATE = ROUTE
BOOK = ("book", "--from", ORIGIN, "--to", DEST, "--date", DATE)


def book_json(stack: Stack, *extra: str) -> tuple[int, pb.Saga]:
    result = cli(stack, *BOOK, "--json", *extra)
    assert result.out.strip(), result
    saga = json_format.Parse(result.out, pb.Saga())
    return result.code, saga


# A flight time as printed: local to its airport, with the zone (JFK: EST/EDT, LAX: PST/PDT).
DEP = rf"{ORIGIN} {DATE} \d\d:\d\d E[SD]T -> {DEST} \d\d:\d\d P[SD]T"


def test_book_confirms_and_prints_the_reference(stack: Stack) -> None:
    result = cli(stack, *BOOK)
    assert result.code == 0, result
    ref = re.search(r"BOOKING CONFIRMED\s+reference ([A-Z0-9]{6})\b", result.out)
    assert ref, result
    for step in STEPS:
        assert re.search(rf"^\s*\d\s+{step}\s+ok\s+1\s+-\s", result.out, re.M), result
    assert "compensations" not in result.out
    lines = result.out.splitlines()
    # Which flight it picked, before the saga runs, then the flight and seat it booked.
    chosen = re.fullmatch(rf"booking (FS\d+-{DATE.replace('-', '')})  {DEP}", lines[0])
    assert chosen, result
    assert "the first of" in lines[1] and "--flight ID books another" in lines[1], result
    after = lines[lines.index(ref[0]) + 1]
    assert re.fullmatch(rf"  {chosen[1]}\s+{DEP}  seat \d+[A-K] Ada Lovelace", after), result
    # The tries columns say what they count.
    assert re.search(r"^\s*#\s+step\s+state\s+do tries\s+undo tries\s+ms\s+detail$",
                     result.out, re.M), result  # fmt: skip


def test_round_trip_for_two_prints_every_flight_and_seat(stack: Stack) -> None:
    result = cli(stack, *BOOK, "--return", flight_date(8), "--passenger", "Ada Lovelace",
                 "--passenger", "Charles Babbage")  # fmt: skip
    assert result.code == 0, result
    booked = result.out[result.out.index("BOOKING CONFIRMED") :].splitlines()[1:3]
    out_day, back = DATE.replace("-", ""), flight_date(8)
    assert re.fullmatch(rf"  FS\d+-{out_day}\s+{DEP}  seats \d+[A-K] Ada Lovelace, "
                        r"\d+[A-K] Charles Babbage", booked[0]), result  # fmt: skip
    assert re.match(rf"  FS\d+-{back.replace('-', '')}\s+{DEST} {back} \d\d:\d\d P[SD]T "
                    rf"-> {ORIGIN} ", booked[1]), result  # fmt: skip
    assert booked[1].endswith("Charles Babbage"), result


# --fail-at STEP -> exit 1, and each step that ran is compensated in reverse order.
FAIL_CASES = [
    ("seat", []),  # alias of reserve_seat: nothing ran before it
    ("deduct_loyalty_points", ["reserve_seat"]),
    ("payment", ["deduct_loyalty_points", "reserve_seat"]),
    ("confirm_booking", ["process_payment", "deduct_loyalty_points", "reserve_seat"]),
]


@pytest.mark.parametrize(("fail_at", "compensations"), FAIL_CASES, ids=[c[0] for c in FAIL_CASES])
def test_fail_at_each_step_compensates_in_reverse(
    stack: Stack, fail_at: str, compensations: list[str]
) -> None:
    result = cli(stack, *BOOK, "--fail-at", fail_at)
    assert result.code == 1, result
    assert "BOOKING NOT CONFIRMED" in result.out, result
    assert "BOOKING CONFIRMED" not in result.out.replace("BOOKING NOT CONFIRMED", "")
    assert "COMPENSATED" in result.out.splitlines()[2], result
    if compensations:
        line = "compensations (in order): " + " -> ".join(compensations)
        assert line in result.out.splitlines(), result
    else:
        assert "compensations (in order)" not in result.out, result
    failed = STEPS[len(compensations)]
    assert re.search(rf"^\s*\d\s+{failed}\s+FAILED\b.*injected failure", result.out, re.M), result


def test_book_json_is_the_saga_record(stack: Stack) -> None:
    result = cli(stack, *BOOK, "--json", "--fail-at", "payment")
    assert result.code == 1, result
    doc = json.loads(result.out)
    assert doc["status"] == "COMPENSATED"
    assert doc["compensation_order"] == ["deduct_loyalty_points", "reserve_seat"]
    saga = json_format.ParseDict(doc, pb.Saga())
    assert [s.name for s in saga.steps] == list(STEPS)
    assert pb.StepState.Name(saga.steps[2].state) == "STEP_FAILED"
    assert saga.request.card.number.endswith("4242")
    assert "424242424242" not in result.out  # the card number is masked


def test_transient_payment_fault_is_retried_and_completes(stack: Stack) -> None:
    code, saga = book_json(stack, "--fault", "payment:transient=2")
    assert code == 0, saga
    assert pb.SagaStatus.Name(saga.status) == "COMPLETED"
    assert saga.booking_reference
    payment = saga.steps[2]
    assert payment.name == "process_payment" and payment.attempts == 3
    assert not saga.compensation_order


def test_get_shows_the_same_saga(stack: Stack) -> None:
    code, booked = book_json(stack)
    assert code == 0
    result = cli(stack, "get", booked.saga_id)
    assert result.code == 0, result
    assert result.out.startswith(f"saga {booked.saga_id}  COMPLETED"), result
    assert f"reference {booked.booking_reference}" in result.out

    as_json = cli(stack, "get", booked.saga_id, "--json")
    assert as_json.code == 0, as_json
    got = json_format.Parse(as_json.out, pb.Saga())
    assert got.saga_id == booked.saga_id and got.correlation_id == booked.correlation_id
    assert got.booking_reference == booked.booking_reference


def test_a_booking_the_rules_refuse_is_a_usage_error_and_starts_nothing(stack: Stack) -> None:
    """The CLI checks a booking with the orchestrator's own rules (one source) before sending:
    the same field named, exit 2, no saga."""
    before = cli(stack, "stats", "--json")
    bad_card = cli(stack, *BOOK, "--card", "4242424242424241")
    assert bad_card.code == 2, bad_card
    assert "card.number" in bad_card.err and "Luhn" in bad_card.err, bad_card
    assert "Traceback" not in bad_card.err
    assert cli(stack, "stats", "--json").out == before.out


def test_booking_a_past_date_says_the_flight_departed_and_starts_nothing(stack: Stack) -> None:
    before = cli(stack, "stats", "--json")
    yesterday = flight_date(-1)
    for args in (
        ("book", "--from", ORIGIN, "--to", DEST, "--date", yesterday),
        ("book", "--flight", flight_id("FS101", -1)),
    ):
        result = cli(stack, *args)
        assert result.code == 2, result
        assert "error: FAILED_PRECONDITION FLIGHT_DEPARTED: flight_ids[0]: flight FS1" in result.err
        assert re.search(rf"-{yesterday.replace('-', '')} departed at {yesterday}T", result.err)
        assert "Traceback" not in result.err
    assert cli(stack, "stats", "--json").out == before.out


def test_dates_can_be_given_relative_to_today(stack: Stack) -> None:
    found = cli(stack, "flights", ORIGIN, DEST, "tomorrow", "--return", "+8")
    assert found.code == 0, found
    assert flight_id("FS101", 1) in found.out and flight_id("FS102", 8) in found.out, found
    ids = cli(stack, "flights", ORIGIN, DEST, "+2", "--ids")
    assert ids.code == 0, ids
    assert ids.out.split() == [flight_id(n, 2) for n in ("FS101", "FS103", "FS105")], ids
    assert cli(stack, "flights", ORIGIN, DEST, "2026-01-01", "--ids").out == ""  # long gone


def test_get_unknown_saga_is_a_usage_error(stack: Stack) -> None:
    result = cli(stack, "get", "no-such-saga-" + uuid.uuid4().hex)
    assert result.code == 2, result
    assert "NOT_FOUND" in result.err


def test_list_shows_new_sagas_newest_first_and_filters(stack: Stack) -> None:
    _, done = book_json(stack)
    _, undone = book_json(stack, "--fail-at", "booking")
    result = cli(stack, "list")
    assert result.code == 0, result
    rows = result.out.splitlines()
    assert re.fullmatch(
        r"saga id\s+status\s+created \(UTC\)\s+failed at\s+reason\s+ref\s+flights", rows[0]
    ), result
    assert rows[1].startswith(undone.saga_id) and "COMPENSATED" in rows[1], result
    assert rows[2].startswith(done.saga_id) and done.booking_reference in rows[2], result
    assert re.fullmatch(r"showing \d+ of \d+ sagas(; next page: --page-token \S+)?", rows[-1]), (
        result
    )

    page = cli(stack, "list", "--status", "completed", "--page-size", "200", "--json")
    assert page.code == 0, page
    listed = json_format.Parse(page.out, pb.ListSagasResponse())
    ids = [s.saga_id for s in listed.sagas]
    assert done.saga_id in ids and undone.saga_id not in ids
    assert {pb.SagaStatus.Name(s.status) for s in listed.sagas} == {"COMPLETED"}


def test_watch_replays_the_whole_timeline(stack: Stack) -> None:
    _, saga = book_json(stack, "--fail-at", "payment")
    result = cli(stack, "watch", saga.saga_id)
    assert result.code == 0, result
    kinds = [line.split()[2] for line in result.out.splitlines()]
    assert kinds[0] == "SAGA_STARTED" and kinds[-1] == "SAGA_COMPENSATED", result
    comp = [line.split()[3] for line in result.out.splitlines() if "COMPENSATION_SUCCEEDED" in line]
    assert comp == ["deduct_loyalty_points", "reserve_seat"], result


def test_watch_json_is_one_event_per_line_or_object(stack: Stack) -> None:
    _, saga = book_json(stack)
    result = cli(stack, "watch", saga.saga_id, "--json")
    assert result.code == 0, result
    decoder = json.JSONDecoder()
    text, events = result.out.strip(), []
    while text:
        obj, end = decoder.raw_decode(text)
        events.append(json_format.ParseDict(obj, pb.SagaEvent()))
        text = text[end:].lstrip()
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert pb.SagaEventType.Name(events[-1].type) == "SAGA_COMPLETED"
    assert {e.correlation_id for e in events} == {saga.correlation_id}


def test_stats_count_new_sagas(stack: Stack) -> None:
    def stats() -> pb.Stats:
        result = cli(stack, "stats", "--json")
        assert result.code == 0, result
        return json_format.Parse(result.out, pb.Stats())

    before = stats()
    book_json(stack)
    book_json(stack, "--fail-at", "loyalty")
    after = stats()
    assert after.total >= before.total + 2
    assert after.completed >= before.completed + 1
    assert after.compensated >= before.compensated + 1

    text = cli(stack, "stats")
    assert text.code == 0, text
    assert re.search(r"^sagas\s+total \d+: running \d+, .*completed \d+", text.out, re.M), text


def test_flights_search_and_no_result(stack: Stack) -> None:
    found = cli(stack, "flights", ORIGIN, DEST, DATE)
    assert found.code == 0, found
    assert re.search(rf"FS\d+-{DATE.replace('-', '')}\s+{DEP}\s", found.out), found
    assert found.out.splitlines()[-1] == "(times are local to each airport)", found

    none = cli(stack, "flights", ORIGIN, "ZZZ", DATE)
    assert none.code == 0, none
    assert "No flights found" in none.out, none


def test_demo_runs_the_five_scenarios_and_writes_the_report(stack: Stack, tmp_path: Path) -> None:
    report = tmp_path / "demo-report.json"
    result = cli(stack, "demo", "--report", str(report))
    assert result.code == 0, result
    lines = result.out.splitlines()
    assert "all 5 scenarios ended as expected" in lines, result
    checked = next(i for i, line in enumerate(lines) if line.startswith("checked: "))
    said = " ".join(lines[checked : checked + 2])
    assert "with no failure the booking is confirmed and nothing is undone" in said, result
    assert "steps N-1 ... 1 are undone, last first" in said, result
    doc = json.loads(report.read_text())
    assert (doc["passed"], doc["total"]) == (5, 5)
    assert [s["compensations"] for s in doc["scenarios"]] == [
        [],
        [],
        ["reserve_seat"],
        ["deduct_loyalty_points", "reserve_seat"],
        ["process_payment", "deduct_loyalty_points", "reserve_seat"],
    ]
    assert doc["scenarios"][0]["booking_reference"]


def test_unreachable_orchestrator_exits_3_naming_the_variable(stack: Stack) -> None:
    nobody = f"127.0.0.1:{free_ports()[0]}"
    env = {**stack.env, "ORCHESTRATOR_ADDR": nobody}
    for args in (("list",), ("book", "--flight", flight_id("FS101", 1))):
        result = cli(stack, *args, env=env)
        assert result.code == 3, result
        assert nobody in result.err and "ORCHESTRATOR_ADDR" in result.err, result
        assert "Traceback" not in result.err, result


def test_resume_exit_status_matches_what_it_says(stack: Stack) -> None:
    code, failed = book_json(
        stack, "--fail-at", "booking", "--fault", "loyalty:compensate-fail=always"
    )
    assert code == 1 and pb.SagaStatus.Name(failed.status) == "FAILED", failed

    again = cli(stack, "resume", failed.saga_id)  # the injected fault is still there
    assert again.code == 1, again
    assert "STILL FAILED after the resume" in again.out, again
    assert f"`flightsaga resume {failed.saga_id}` again" in again.out, again

    done = cli(stack, "resume", failed.saga_id, "--clear-faults")
    assert done.code == 0, done
    assert done.out.startswith(f"saga {failed.saga_id}  COMPENSATED"), done
    assert "RESUMED: every compensation finished; nothing is left for an operator" in done.out
    assert "NOT CONFIRMED" not in done.out and "FAILED after" not in done.out, done


def test_help_documents_the_exit_statuses() -> None:
    result = run([FLIGHTSAGA, "--help"])
    assert result.code == 0, result
    text = result.out[result.out.index("Exit status:") :]
    for code in range(4):
        assert re.search(rf"^  {code}  ", text, re.M), result
    assert "`resume` finished the saga" in text, result
