"""The filter people type (CLI flags, dashboard query) as a SagaFilter, and a bulk job's query
kept as JSON in its row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from flightsaga.v1 import orchestrator_pb2 as pb
from orchestrator.engine.bulk_sql import query_from, query_json
from orchestrator.engine.model import SagaStatus
from orchestrator.engine.saga_query import SagaQuery
from sagakit.filters import FilterError, instant, saga_filter


@pytest.mark.parametrize(
    ("text", "ago"),
    [("90s", timedelta(seconds=90)), ("30m", timedelta(minutes=30)), ("1h", timedelta(hours=1)),
     ("2d", timedelta(days=2)), ("1w", timedelta(weeks=1)), ("3 H", timedelta(hours=3))],
)  # fmt: skip
def test_an_age_is_that_long_ago(text: str, ago: timedelta) -> None:
    moment = instant(text, "since")
    assert abs((datetime.now(UTC) - ago - moment).total_seconds()) < 5


def test_an_iso_time_without_a_zone_is_utc() -> None:
    assert instant("2026-12-01T10:00", "until") == datetime(2026, 12, 1, 10, tzinfo=UTC)
    zoned = instant("2026-12-01T10:00+02:00", "until")
    assert zoned.astimezone(UTC).hour == 8


@pytest.mark.parametrize("text", ["yesterday", "1y", "-1h", ""])
def test_anything_else_is_refused_naming_the_field(text: str) -> None:
    with pytest.raises(FilterError) as err:
        instant(text, "since")
    assert err.value.field == "since"


def test_a_filter_from_what_people_type() -> None:
    f = saga_filter(["failed", "Running"], customer=" LOY-1001 ", step="payment", since="1h")
    assert list(f.statuses) == [pb.FAILED, pb.RUNNING]
    assert (f.customer_id, f.step) == ("LOY-1001", "payment")
    assert f.HasField("created_after") and not f.HasField("created_before")
    assert not saga_filter().ListFields()
    with pytest.raises(FilterError) as err:
        saga_filter(["sideways"])
    assert err.value.field == "status"


def test_a_jobs_query_survives_its_row() -> None:
    q = SagaQuery(
        statuses=(SagaStatus.FAILED, SagaStatus.RUNNING),
        customer_id="LOY-1001",
        step="process_payment",
        created_before="2026-12-07T10:00:00.000000+00:00",
    )
    assert query_from(query_json(q)) == q
    assert query_from(query_json(SagaQuery())) == SagaQuery()
