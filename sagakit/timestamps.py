"""ISO-8601 strings (how the databases store time) <-> protobuf Timestamps."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_ts(iso: str | None) -> Timestamp | None:
    if not iso:
        return None
    ts = Timestamp()
    set_ts(ts, iso)
    return ts


def set_ts(ts: Timestamp, iso: str) -> None:
    """Timestamp.FromDatetime(datetime.fromisoformat(iso)) (a naive time is UTC), computed
    directly: FromDatetime's own way is several times slower, and the orchestrator sets a
    dozen per saga it shows."""
    moment = datetime.fromisoformat(iso)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - _EPOCH
    ts.seconds = delta.days * 86400 + delta.seconds
    ts.nanos = delta.microseconds * 1000
