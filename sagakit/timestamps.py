"""ISO-8601 strings (how the databases store time) <-> protobuf Timestamps."""

from __future__ import annotations

from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp


def to_ts(iso: str | None) -> Timestamp | None:
    if not iso:
        return None
    ts = Timestamp()
    ts.FromDatetime(datetime.fromisoformat(iso))
    return ts
