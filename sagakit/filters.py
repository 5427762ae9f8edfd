"""A SagaFilter from what people type: the CLI's `--status --customer --flight --step --reason
--since --until --saga` and the dashboard's query parameters of the same names. A moment is an
age (`30m`, `1h`, `2d`, `1w` ago) or an ISO time (UTC when it names no zone)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from flightsaga.v1 import orchestrator_pb2 as pb

_AGO = re.compile(r"^(\d+)\s*([smhdw])$")
_UNIT = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class FilterError(ValueError):
    """A filter parameter is wrong; `field` is its name (status, since, ...)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def instant(text: str, field: str) -> datetime:
    given = text.strip()
    if m := _AGO.match(given.lower()):
        return datetime.now(UTC) - timedelta(**{_UNIT[m[2]]: int(m[1])})
    try:
        moment = datetime.fromisoformat(given)
    except ValueError:
        raise FilterError(
            field, f"{text[:40]!r} is neither an age (30m, 1h, 2d) nor an ISO time"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def saga_filter(
    status: Sequence[str] = (),
    customer: str = "",
    flight: str = "",
    step: str = "",
    reason: str = "",
    since: str = "",
    until: str = "",
    saga: str = "",
) -> pb.SagaFilter:
    """The filter (the orchestrator checks customer, flight, step, reason and saga)."""
    f = pb.SagaFilter(
        customer_id=customer.strip(),
        flight_id=flight.strip(),
        step=step.strip(),
        error_reason=reason.strip(),
        saga=saga.strip(),
    )
    for given in status:
        name = given.strip().upper()
        if name not in pb.SagaStatus.keys() or name == "SAGA_STATUS_UNSPECIFIED":
            raise FilterError("status", f"unknown state {given[:30]!r}")
        f.statuses.append(pb.SagaStatus.Value(name))
    if since.strip():
        f.created_after.FromDatetime(instant(since, "since"))
    if until.strip():
        f.created_before.FromDatetime(instant(until, "until"))
    return f
