"""The testing kit's pure parts: requests built from a saga's sample, the report's shapes, and
how a Do ‖ Compensate race is judged from its replies and records."""

from __future__ import annotations

import json

import pytest

from examples.trip import TRIP
from sagas.booking import BOOK_FLIGHT
from sagas.declare import SagaDeclaration
from testkit.conformance import CLAUSES, Check, _judge_race, _redact
from testkit.report import ClauseResult, Report
from testkit.subject import Outcome, Records


@pytest.mark.parametrize("saga", [BOOK_FLIGHT, TRIP], ids=lambda s: s.name)
def test_every_step_of_both_sagas_has_a_sample_request_and_a_variant_differs(
    saga: SagaDeclaration,
) -> None:
    for step in saga.step_names:
        first = saga.sample_request(step, "s-1")
        other = saga.sample_request(step, "s-1", variant=1)
        assert first.saga_id == "s-1"
        assert first.SerializeToString(deterministic=True) != other.SerializeToString(
            deterministic=True
        ), step


def test_card_fields_never_reach_a_report() -> None:
    body = {"card": {"number": "4242424242424242", "cvc": "123", "holder_name": "A"}}
    assert _redact(body) == {"card": {"number": "***", "cvc": "***", "holder_name": "A"}}


def test_the_report_lists_failed_clauses_as_text_and_json() -> None:
    report = Report(
        "127.0.0.1:1",
        "book_flight",
        "reserve_seat",
        [
            ClauseResult("repeated_do", "a repeat", True),
            ClauseResult("late_do", "a late Do", False, ["answered OK"], [("sent Do x", "OK {}")]),
        ],
    )
    assert not report.passed and report.failed == ["late_do"]
    text = report.text()
    assert "PASS  repeated_do" in text and "FAIL  late_do" in text
    assert "! answered OK" in text and "sent Do x: OK {}" in text
    assert text.endswith("FAILED: late_do")
    as_json = json.loads(json.dumps(report.as_json()))
    assert as_json["failed"] == ["late_do"]
    assert as_json["clauses"][1]["evidence"] == [{"what": "sent Do x", "detail": "OK {}"}]


def test_clause_names_are_unique() -> None:
    names = [c.name for c in CLAUSES]
    assert len(names) == len(set(names)) == 8


def judge(do: Outcome, comp: Outcome, rec: Records) -> list[str]:
    check = Check(None, "run", "race", [])  # type: ignore[arg-type]
    _judge_race(check, 1, do, comp, rec)
    return check.problems


NULL = Records([("s", "compensate", "null")], [])
UNDONE = Records([("s", "do", "applied"), ("s", "compensate", "applied")], [("x", "{}")] * 2)


def test_a_race_is_consistent_either_way_and_a_late_do_that_ran_is_not() -> None:
    ok, aborted = Outcome("OK"), Outcome("ABORTED")
    assert judge(aborted, ok, NULL) == []
    assert judge(ok, ok, UNDONE) == []
    late = Records([("s", "compensate", "null"), ("s", "do", "applied")], [("x", "{}")])
    assert "the Compensate came first" in judge(ok, ok, late)[0]
    assert "no Compensate mark" in judge(ok, ok, Records([], []))[0]
