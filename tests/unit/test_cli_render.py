"""What the CLI prints (cli.render, cli.demo), from saga records alone."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf import json_format
from google.protobuf.struct_pb2 import Struct

from cli import demo, render
from flightsaga.v1 import common_pb2
from flightsaga.v1 import orchestrator_pb2 as pb

DEP = datetime(2026, 12, 1, 13, 0, tzinfo=UTC)  # 08:00 in New York


def struct(doc: dict[str, object]) -> Struct:
    return json_format.ParseDict(doc, Struct())


def saga(status: str = "COMPLETED", compensation_attempts: int = 0) -> pb.Saga:
    seat = pb.StepRecord(
        name="reserve_seat",
        index=1,
        state=pb.SUCCEEDED,
        attempts=1,
        compensation_attempts=compensation_attempts,
        result=struct(
            {
                "fare_cents": 57800,
                "seats": [
                    {"passenger_index": 0, "seat": "11B", "flight_id": "FS101-20261201"},
                    {"passenger_index": 1.0, "seat": "11C", "flight_id": "FS101-20261201"},
                ],
                "legs": [
                    {
                        "flight_id": "FS101-20261201",
                        "origin": "JFK",
                        "destination": "LAX",
                        "departure": "2026-12-01T13:00:00Z",
                        "arrival": "2026-12-01T19:25:00Z",
                    }
                ],
            }
        ),
    )
    return pb.Saga(
        saga_id="s1",
        correlation_id="c1",
        status=pb.SagaStatus.Value(status),
        steps=[seat],
        booking_reference="ABC123" if status == "COMPLETED" else "",
        error="" if status == "COMPLETED" else "confirm_booking failed: ABORTED: no",
        request=pb.BookFlightRequest(
            flight_ids=["FS101-20261201"],
            passengers=[
                common_pb2.Passenger(first_name="Ada", last_name="Lovelace"),
                common_pb2.Passenger(first_name="Charles", last_name="Babbage"),
            ],
        ),
        fare_cents=57800,
        amount_charged_cents=57800,
        currency="USD",
    )


def test_flight_times_are_local_to_their_airport_with_the_zone() -> None:
    assert render.airport_time(DEP, "JFK") == "2026-12-01 08:00 EST"
    assert render.airport_time(DEP, "LHR", with_date=False) == "13:00 GMT"
    assert render.airport_time(DEP, "XXX") == "2026-12-01 13:00 UTC"  # unknown airport
    overnight = render.route_text("JFK", DEP, "LHR", datetime(2026, 12, 2, 6, tzinfo=UTC))
    assert overnight == "JFK 2026-12-01 08:00 EST -> LHR 2026-12-02 06:00 GMT"


def test_a_confirmed_booking_names_its_flights_times_and_seats() -> None:
    text = render.saga_text(saga())
    booked = text[text.index("BOOKING CONFIRMED") :].splitlines()
    assert booked[0] == "BOOKING CONFIRMED  reference ABC123"
    assert booked[1] == (
        "  FS101-20261201   JFK 2026-12-01 08:00 EST -> LAX 11:25 PST  "
        "seats 11B Ada Lovelace, 11C Charles Babbage"
    )


def test_the_tries_columns_say_what_they_count() -> None:
    lines = render.saga_text(saga("COMPENSATED", compensation_attempts=5)).splitlines()
    header = next(line for line in lines if line.lstrip().startswith("#"))
    assert header.split() == ["#", "step", "state", "do", "tries", "undo", "tries", "ms", "detail"]
    row = next(line for line in lines if "reserve_seat" in line)
    assert row.split()[3:5] == ["1", "5"]
    assert "c" not in row.split()[3] + row.split()[4]
    fresh = render.saga_text(saga()).splitlines()
    assert next(line for line in fresh if "reserve_seat" in line).split()[3:5] == ["1", "-"]


def test_resume_says_done_when_compensated_and_not_when_still_failed() -> None:
    done = render.saga_text(saga("COMPENSATED"), resumed=True)
    assert "RESUMED: every compensation finished; nothing is left for an operator" in done
    assert "NOT CONFIRMED" not in done
    failed = render.saga_text(saga("FAILED"), resumed=True)
    assert "STILL FAILED after the resume: confirm_booking failed" in failed
    booked = render.saga_text(saga("COMPENSATED"))
    assert "BOOKING NOT CONFIRMED: confirm_booking failed" in booked  # `book` and `get`


def test_list_has_a_header_and_says_plainly_when_empty() -> None:
    assert render.list_text(pb.ListSagasResponse()) == "no sagas yet"
    assert render.list_text(pb.ListSagasResponse(), "failed") == "no failed sagas"
    assert render.list_text(pb.ListSagasResponse(), "", "tok") == "no more sagas"
    page = pb.ListSagasResponse(sagas=[saga()], total=30, next_page_token="t2")
    page.sagas[0].created_at.FromDatetime(DEP)
    lines = render.list_text(page).splitlines()
    assert lines[0].split() == ["saga", "id", "status", "created", "(UTC)", "failed", "at",
                                "reason", "ref", "flights"]  # fmt: skip
    assert lines[1].split() == ["s1", "COMPLETED", "2026-12-01", "13:00:00", "-", "-", "ABC123",
                                "FS101-20261201"]  # fmt: skip
    assert lines[2] == "showing 1 of 30 sagas; next page: --page-token t2"
    page.total, page.total_capped = 10_000, True  # a broad filter's count stopped at the cap
    assert render.list_text(page).splitlines()[2].startswith("showing 1 of 10,000+ sagas")


def test_list_shows_where_and_why_a_saga_failed_and_says_when_a_filter_finds_none() -> None:
    failed = saga("COMPENSATED")
    failed.failed_step, failed.error_reason = "process_payment", "CARD_DECLINED"
    line = render.list_text(pb.ListSagasResponse(sagas=[failed], total=1)).splitlines()[1]
    assert "process_payment" in line.split() and "CARD_DECLINED" in line.split()
    empty = render.list_text(pb.ListSagasResponse(), "failed", filtered=True)
    assert empty == "no failed sagas matching the filter"


def result(name: str, passed: bool) -> demo.ScenarioResult:
    return demo.ScenarioResult(
        name, "", "COMPLETED", "COMPLETED" if passed else "COMPENSATED", [], [], "", "", "", 0.1
    )


def test_demo_says_what_it_checked_in_plain_words() -> None:
    ok = demo.table([result("success", True), result("again", True)])
    assert "all 2 scenarios ended as expected" in ok.splitlines()
    assert "checked: with no failure the booking is confirmed and nothing is undone" in ok
    assert "original system" not in ok and "/" not in ok.splitlines()[-1]
    bad = demo.table([result("success", True), result("again", False)])
    assert "1 of 2 scenarios ended as expected; the FAIL rows ended otherwise" in bad
