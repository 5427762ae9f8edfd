"""What a participant holds for a saga, in one shape for every service (the Records RPC): its
barrier rows and its business effects. Each participant gives its effects through one adapter,
`effects(conn, saga_id) -> list[Effect]` (ParticipantServicer.effects)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc

from flightsaga.v1 import records_pb2, records_pb2_grpc
from sagakit import barrier, validate
from sagakit.db import Conn, Database
from sagakit.timestamps import to_ts

SERVICE_NAME = records_pb2.DESCRIPTOR.services_by_name["Records"].full_name


@dataclass(frozen=True)
class Effect:
    """One business effect: its kind ("seat_hold", "refund", ...), its fields, when (ISO)."""

    kind: str
    at: str
    detail: dict[str, Any] = field(default_factory=dict)

    def message(self) -> records_pb2.Effect:
        out = records_pb2.Effect(
            kind=self.kind, detail_json=json.dumps(self.detail, sort_keys=True, default=str)
        )
        if (ts := to_ts(self.at)) is not None:
            out.at.CopyFrom(ts)
        return out


Effects = Callable[[Conn, str], list[Effect]]


def _barrier_record(row: dict[str, Any]) -> records_pb2.BarrierRecord:
    outcome = "null" if row["null_compensation"] else "applied"
    out = records_pb2.BarrierRecord(step=row["step"], op=row["op"], outcome=outcome)
    if (ts := to_ts(str(row["created_at"]))) is not None:
        out.at.CopyFrom(ts)
    return out


def read(conn: Conn, service: str, saga_id: str, effects: Effects) -> records_pb2.SagaRecords:
    """A saga's records, read in one transaction: barrier rows and effects, oldest first."""
    return records_pb2.SagaRecords(
        saga_id=saga_id,
        service=service,
        barrier=[_barrier_record(r) for r in barrier.rows(conn, saga_id)],
        effects=[e.message() for e in sorted(effects(conn, saga_id), key=lambda e: e.at)],
    )


class RecordsServicer(records_pb2_grpc.RecordsServicer):
    def __init__(self, db: Database, service: str, effects: Effects) -> None:
        self.db = db
        self.service = service
        self.effects = effects

    async def GetSagaRecords(
        self, request: records_pb2.GetSagaRecordsRequest, context: grpc.aio.ServicerContext
    ) -> records_pb2.SagaRecords:
        saga_id = validate.saga_id(request.saga_id)
        return await self.db.read(lambda conn: read(conn, self.service, saga_id, self.effects))


def row_effect(kind: str, row: dict[str, Any]) -> list[Effect]:
    """A service whose saga holds at most one row (its `at` and its columns): that row as the
    one effect, or none when the row has only the saga id (nothing held)."""
    if "at" not in row:
        return []
    detail = {k: v for k, v in row.items() if k not in ("saga_id", "at")}
    return [Effect(kind, str(row["at"]), detail)]
