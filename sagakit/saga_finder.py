"""Finding sagas in people's words: the CLI's `list` options and the dashboard's `/sagas`
query parameters, both named `status` (any of several), `customer`, `flight`, `step`,
`reason`, `since`, `until` and `saga`, as the API's SagaFilter.

The orchestrator checks step, reason and saga names; its errors name `filter.<field>`, which
`parameter_of` turns back into the word the user typed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from flightsaga.v1 import orchestrator_pb2 as pb
from sagakit.timespec import moment

PARAMETERS = ("status", "customer", "flight", "step", "reason", "since", "until", "saga")
_API_FIELDS = {
    "filter.statuses": "status",
    "filter.customer_id": "customer",
    "filter.flight_id": "flight",
    "filter.step": "step",
    "filter.error_reason": "reason",
    "filter.created_after": "since",
    "filter.created_before": "until",
    "filter.saga": "saga",
    "status": "status",
}
STATUSES = tuple(n for n in pb.SagaStatus.keys() if n != "SAGA_STATUS_UNSPECIFIED")


class FilterError(ValueError):
    """A filter word that means nothing; `field` as the user named it (`--status`, `status`)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


@dataclass(frozen=True)
class FilterWords:
    """What the user typed; empty means "any"."""

    status: Sequence[str] = ()
    customer: str = ""
    flight: str = ""
    step: str = ""
    reason: str = ""
    since: str = ""
    until: str = ""
    saga: str = ""


def saga_filter(
    words: FilterWords, label: Callable[[str], str] = str, now: datetime | None = None
) -> pb.SagaFilter:
    """The SagaFilter `words` mean; a FilterError or TimeSpecError names the word by
    `label(parameter)` (e.g. `--since`)."""
    f = pb.SagaFilter(
        statuses=_statuses(words.status, label("status")),
        customer_id=words.customer.strip(),
        flight_id=words.flight.strip(),
        step=words.step.strip(),
        error_reason=words.reason.strip().upper(),
        saga=words.saga.strip(),
    )
    if words.since.strip():
        f.created_after.FromDatetime(moment(words.since, label("since"), now))
    if words.until.strip():
        f.created_before.FromDatetime(moment(words.until, label("until"), now))
    return f


def fixed_times(f: pb.SagaFilter) -> dict[str, str]:
    """The filter's created range as ISO moments (`since`, `until`, when set): what the next
    pages must be asked with, since a page token is bound to its filter and `1h` moves."""
    out = {}
    if f.HasField("created_after"):
        out["since"] = f.created_after.ToDatetime(UTC).isoformat()
    if f.HasField("created_before"):
        out["until"] = f.created_before.ToDatetime(UTC).isoformat()
    return out


def _statuses(given: Sequence[str], field: str) -> list[pb.SagaStatus.ValueType]:
    names = [n.strip().upper() for n in given if n.strip() and n.strip().upper() != "ALL"]
    for name in names:
        if name not in STATUSES:
            raise FilterError(field, f"{name[:30]!r} is not one of {', '.join(STATUSES)}")
    return [pb.SagaStatus.Value(n) for n in dict.fromkeys(names)]


def parameter_of(api_field: str) -> str | None:
    """The parameter an API error's field (`filter.step`) stands for, if any."""
    return _API_FIELDS.get(api_field)
