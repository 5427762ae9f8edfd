"""The participant fault headers (x-fail / x-fault) as sagakit.participant_faults parses them."""

from __future__ import annotations

import pytest

from sagakit.errors import InvalidArgument
from sagakit.participant_faults import Fault, parse_duration_ms, parse_participant_faults
from sagas.booking import canonical_step

SEAT = "reserve_seat"


@pytest.mark.parametrize(
    ("x_fail", "x_fault", "expected"),
    [
        ("", "", []),
        ("do", "", [Fault("do", "fail")]),
        (" Compensate ", "", [Fault("compensate", "fail")]),
        ("seat", "", [Fault("do", "fail")]),
        ("RESERVE-SEAT", "", [Fault("do", "fail")]),
        ("true", "", [Fault("do", "fail")]),
        ("", "do:lost-reply", [Fault("do", "lost-reply")]),
        ("", "do:delay=1500", [Fault("do", "delay", 1500)]),
        (
            "",
            "do:delay=1.5s, compensate:unavailable",
            [
                Fault("do", "delay", 1500),
                Fault("compensate", "unavailable"),
            ],
        ),
        ("do", "compensate:fail", [Fault("do", "fail"), Fault("compensate", "fail")]),
    ],
)
def test_parse(x_fail: str, x_fault: str, expected: list[Fault]) -> None:
    assert parse_participant_faults(x_fail, x_fault, SEAT, canonical_step) == expected


@pytest.mark.parametrize(
    ("x_fail", "x_fault", "header", "words"),
    [
        ("teleport", "", "x-fail", "unknown step"),
        ("payment", "", "x-fail", "not served here"),
        ("", "do", "x-fault", "op:kind"),
        ("", "undo:fail", "x-fault", "op:kind"),
        ("", "do:explode", "x-fault", "unknown kind"),
        ("", "do:delay", "x-fault", "needs a duration"),
        ("", "do:delay=soon", "x-fault", "bad duration"),
        ("", "do:delay=-5", "x-fault", "0..600000"),
    ],
)
def test_errors_name_the_header(x_fail: str, x_fault: str, header: str, words: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_participant_faults(x_fail, x_fault, SEAT, canonical_step)
    assert info.value.field == header
    assert words in info.value.message


@pytest.mark.parametrize(("raw", "ms"), [("250", 250), ("250ms", 250), ("2s", 2000), ("0.5S", 500)])
def test_durations(raw: str, ms: int) -> None:
    assert parse_duration_ms("x", raw) == ms


def test_header_round_trip() -> None:
    for fault in (Fault("do", "delay", 300), Fault("compensate", "lost-reply")):
        assert parse_participant_faults("", fault.header(), SEAT, canonical_step) == [fault]
