"""The words people find sagas by (CLI options, dashboard parameters) as the API's filter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from flightsaga.v1 import orchestrator_pb2 as pb
from sagakit.saga_finder import (
    FilterError,
    FilterWords,
    fixed_times,
    parameter_of,
    saga_filter,
)
from sagakit.timespec import TimeSpecError, moment

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", NOW - timedelta(minutes=30)),
        ("1h", NOW - timedelta(hours=1)),
        ("2d", NOW - timedelta(days=2)),
        ("1w", NOW - timedelta(weeks=1)),
        ("2026-12-07T10:00", datetime(2026, 12, 7, 10, 0, tzinfo=UTC)),
        ("2026-12-06", datetime(2026, 12, 6, tzinfo=UTC)),
        ("2026-12-07T12:00+01:00", datetime(2026, 12, 7, 11, 0, tzinfo=UTC)),
    ],
)
def test_a_moment_is_a_time_ago_or_an_iso_date_in_utc(text: str, expected: datetime) -> None:
    assert moment(text, "--since", NOW) == expected


@pytest.mark.parametrize("text", ["1x", "yesterday", "-1h", "", "2026-13-01"])
def test_a_moment_that_means_nothing_names_where_it_was_given(text: str) -> None:
    with pytest.raises(TimeSpecError, match=r"^--until: .* is not `30m`, `1h`, `2d`"):
        moment(text, "--until", NOW)


def test_the_words_become_one_filter_every_field_of_which_must_match() -> None:
    words = FilterWords(
        status=["failed", "COMPENSATED", "failed"],
        customer=" LOY-1001 ",
        flight="FS103-20261208",
        step="payment",
        reason="card_declined",
        since="1h",
        until="2026-12-07T12:00",
        saga="book_flight",
    )
    f = saga_filter(words, now=NOW)
    assert list(f.statuses) == [pb.FAILED, pb.COMPENSATED]
    assert (f.customer_id, f.flight_id, f.step) == ("LOY-1001", "FS103-20261208", "payment")
    assert (f.error_reason, f.saga) == ("CARD_DECLINED", "book_flight")
    assert f.created_after.ToDatetime(UTC) == NOW - timedelta(hours=1)
    assert f.created_before.ToDatetime(UTC) == NOW
    assert saga_filter(FilterWords(status=["all", ""])) == pb.SagaFilter()


def test_a_bad_status_or_time_is_named_as_the_user_typed_it() -> None:
    with pytest.raises(FilterError, match=r"^--status: 'LOST' is not one of RUNNING"):
        saga_filter(FilterWords(status=["lost"]), label=lambda p: f"--{p}")
    with pytest.raises(TimeSpecError, match=r"^since: "):
        saga_filter(FilterWords(since="soon"))


def test_the_fixed_times_of_a_relative_filter_give_the_same_filter_later() -> None:
    moving = saga_filter(FilterWords(since="1h", until="30m", customer="LOY-1001"), now=NOW)
    fixed = fixed_times(moving)
    later = NOW + timedelta(minutes=5)
    again = saga_filter(FilterWords(customer="LOY-1001", **fixed), now=later)
    assert again == moving
    assert fixed_times(saga_filter(FilterWords(customer="LOY-1001"))) == {}


def test_the_apis_field_names_map_back_to_the_parameters() -> None:
    assert parameter_of("filter.created_before") == "until"
    assert parameter_of("filter.error_reason") == "reason"
    assert parameter_of("saga_id") is None
