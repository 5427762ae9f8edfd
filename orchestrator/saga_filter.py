"""The API's SagaFilter, checked, as the engine's SagaQuery (ListSagas; bulk operations).

A bad field is INVALID_ARGUMENT naming it (`filter.step`, `filter.created_before`, ...). Steps
are named or aliased as in x-fail-at, of the filter's saga or else of any served saga.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from flightsaga.v1 import orchestrator_pb2 as pb
from orchestrator.doors import Doors
from orchestrator.engine.model import SagaStatus
from orchestrator.engine.saga_query import SagaQuery
from sagakit import validate
from sagakit.errors import DomainError, InvalidArgument

_REASON = re.compile(r"^[A-Z][A-Z0-9_]*$")
# Timestamp's own valid range (0001-01-01 to 9999-12-31).
_MIN_S, _MAX_S = -62135596800, 253402300799


def status_of(value: int, field: str) -> SagaStatus:
    if value == pb.SAGA_STATUS_UNSPECIFIED or value not in pb.SagaStatus.values():
        raise InvalidArgument(field, f"unknown status {value}")
    return SagaStatus(pb.SagaStatus.Name(pb.SagaStatus.ValueType(value)))


def instant(ts: Timestamp, field: str) -> str:
    """A Timestamp as the saga log writes created_at (ISO, microseconds, UTC)."""
    if not _MIN_S <= ts.seconds <= _MAX_S or not 0 <= ts.nanos < 10**9:
        raise InvalidArgument(field, "not a valid timestamp (years 0001 to 9999)")
    moment = datetime.fromtimestamp(ts.seconds, UTC).replace(microsecond=ts.nanos // 1000)
    return moment.isoformat(timespec="microseconds")


def _step(name: str, saga: str, doors: Doors, field: str) -> str:
    """The wire name of a step (or alias) of `saga`, or of any served saga."""
    names = [saga] if saga else sorted(doors.by_name)
    for door_name in names:
        for declaration in doors[door_name].versions.values():
            try:
                return declaration.canonical_step(name, field)
            except DomainError:
                continue
    where = f"saga {saga!r}" if saga else "any served saga"
    raise InvalidArgument(field, f"unknown step {name.strip()!r} (not a step of {where})")


def _reason(value: str, field: str) -> str:
    reason = validate.text(field, value, 64, required=False).upper()
    if reason and not _REASON.match(reason):
        raise InvalidArgument(field, f"{value!r} is not a reason such as INSUFFICIENT_POINTS")
    return reason


def _created(f: pb.SagaFilter, prefix: str) -> tuple[str, str]:
    after = (
        instant(f.created_after, f"{prefix}.created_after") if f.HasField("created_after") else ""
    )
    before = (
        instant(f.created_before, f"{prefix}.created_before")
        if f.HasField("created_before")
        else ""
    )
    if after and before and before <= after:
        raise InvalidArgument(f"{prefix}.created_before", "must be later than created_after")
    return after, before


def query_of(
    f: pb.SagaFilter, doors: Doors, owner: str | None, prefix: str = "filter"
) -> SagaQuery:
    """The checked query; `owner`: only the sagas this caller started (a booker), or None."""
    statuses = tuple(dict.fromkeys(status_of(s, f"{prefix}.statuses") for s in f.statuses))
    saga = doors.known(f.saga, f"{prefix}.saga").name if f.saga.strip() else ""
    step = _step(f.step, saga, doors, f"{prefix}.step") if f.step.strip() else ""
    after, before = _created(f, prefix)
    return SagaQuery(
        statuses=statuses,
        owner=owner,
        customer_id=validate.text(f"{prefix}.customer_id", f.customer_id, required=False),
        flight_id=validate.text(f"{prefix}.flight_id", f.flight_id, required=False),
        step=step,
        error_reason=_reason(f.error_reason, f"{prefix}.error_reason"),
        created_after=after,
        created_before=before,
        saga=saga,
    )
