"""`flightsaga list` finds sagas by what they are about: customer, flight, statuses, the step
and reason of their failure, when they were created, which saga they are."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf import json_format

from flightsaga.v1 import orchestrator_pb2 as pb
from tests.e2e.tools import Stack, cli
from tests.support.dates import flight_id

pytestmark = pytest.mark.e2e

CUSTOMER = "LOY-1005"
FLIGHT = flight_id("FS103", 12)


def book(stack: Stack, *extra: str) -> pb.Saga:
    result = cli(stack, "book", "--flight", FLIGHT, "--customer", CUSTOMER, "--json", *extra)
    assert result.out.strip(), result
    return json_format.Parse(result.out, pb.Saga())


def listed(stack: Stack, *args: str) -> list[str]:
    result = cli(stack, "list", "--page-size", "200", "--json", *args)
    assert result.code == 0, result
    return [s.saga_id for s in json_format.Parse(result.out, pb.ListSagasResponse()).sagas]


def test_list_finds_a_customers_failed_sagas_on_a_flight_by_step_reason_and_time(
    stack: Stack,
) -> None:
    began = (datetime.now(UTC) - timedelta(seconds=1)).isoformat(timespec="seconds")
    done = book(stack)
    at_payment = book(stack, "--fail-at", "payment")
    at_loyalty = book(stack, "--fail-at", "loyalty")
    other = cli(stack, "book", "--flight", FLIGHT, "--customer", "LOY-1004", "--json")
    assert other.code == 0, other
    mine = ("--customer", CUSTOMER, "--flight", FLIGHT, "--since", began)

    assert listed(stack, *mine) == [at_loyalty.saga_id, at_payment.saga_id, done.saga_id]
    failed = listed(stack, *mine, "--status", "FAILED", "--status", "compensated")
    assert failed == [at_loyalty.saga_id, at_payment.saga_id]
    by_step = listed(stack, *mine, "--step", "payment", "--reason", at_payment.error_reason,
                     "--saga", "book_flight", "--until", "2099-01-01")  # fmt: skip
    assert by_step == [at_payment.saga_id]
    assert listed(stack, *mine, "--since", "1h") == listed(stack, *mine)
    earlier = listed(stack, "--customer", CUSTOMER, "--flight", FLIGHT, "--until", began)
    assert not {done.saga_id, at_payment.saga_id, at_loyalty.saga_id} & set(earlier)

    text = cli(stack, "list", *mine, "--step", "payment")
    assert text.code == 0, text
    row = text.out.splitlines()[1].split()
    assert row[0] == at_payment.saga_id and "process_payment" in row, text
    assert at_payment.error_reason in row, text
    assert text.out.splitlines()[-1] == "showing 1 of 1 sagas matching the filter", text


def test_the_next_page_of_a_relative_time_is_asked_with_the_moment_it_meant(
    stack: Stack,
) -> None:
    first = book(stack, "--fail-at", "payment")
    second = book(stack, "--fail-at", "payment")
    mine = ("--customer", CUSTOMER, "--status", "compensated", "--since", "1h")
    top = cli(stack, "list", *mine, "--page-size", "1")
    assert top.code == 0 and top.out.splitlines()[1].startswith(second.saga_id), top
    hint = top.out.splitlines()[-1].split("next page: ")[1]
    assert " --since 20" in hint, top  # the ISO moment `1h` meant
    after = cli(stack, "list", *mine, "--page-size", "1", *hint.split())
    assert after.code == 0, after
    assert after.out.splitlines()[1].startswith(first.saga_id), after


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("--since", "yesterday"), "--since: 'yesterday' is not `30m`, `1h`, `2d`"),
        (("--until", "2026-13-40"), "--until: '2026-13-40' is not"),
        (("--step", "lunch"), "--step: unknown step 'lunch'"),
        (("--reason", "not a reason"), "--reason: "),
        (("--saga", "nosuch"), "--saga: "),
        (("--since", "1h", "--until", "2h"), "--until: must be later than created_after"),
    ],
    ids=["since", "until", "step", "reason", "saga", "range"],
)
def test_a_bad_filter_exits_2_naming_the_option(
    stack: Stack, args: tuple[str, ...], named: str
) -> None:
    result = cli(stack, "list", *args)
    assert result.code == 2, result
    assert result.err.startswith(f"error: {named}"), result
    assert "Traceback" not in result.err, result
