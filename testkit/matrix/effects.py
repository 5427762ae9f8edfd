"""What a step left at its participant for one saga: none, effective, or undone.

Every participant is read the same way, through the Records service each one registers
(GetSagaRecords: its barrier marks and its business effects): a step with no effect never took
effect; one whose compensation was applied over an effect is undone; otherwise it stands.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

import grpc

from chaos.records import bounded
from flightsaga.v1 import records_pb2, records_pb2_grpc
from sagas.booking import BOOK_FLIGHT
from sagas.peers import Peers

READ_TIMEOUT_S = 30.0


class Effect(StrEnum):
    NONE = "none"  # the participant holds nothing for the saga: the step never took effect
    EFFECTIVE = "effective"  # the step's effect stands
    UNDONE = "undone"  # the effect was made, then reversed by the compensation


@dataclass(frozen=True)
class StepRecords:
    """One step's records at its participant: the step's barrier marks and the effects."""

    marks: tuple[tuple[str, str], ...] = ()  # (op, outcome), oldest first
    effects: tuple[str, ...] = ()  # effect kinds, oldest first

    @classmethod
    def of(cls, step: str, reply: records_pb2.SagaRecords) -> StepRecords:
        marks = tuple((b.op, b.outcome) for b in reply.barrier if b.step == step)
        return cls(marks, tuple(e.kind for e in reply.effects))

    @property
    def effect(self) -> Effect:
        if not self.effects:
            return Effect.NONE
        return Effect.UNDONE if ("compensate", "applied") in self.marks else Effect.EFFECTIVE


@dataclass
class SagaRecords:
    """One saga's records at every step's participant (wire step name -> its records)."""

    saga_id: str
    steps: dict[str, StepRecords] = field(default_factory=dict)
    read_error: str = ""


def classify(records: SagaRecords) -> dict[str, Effect]:
    """Each step's effect, by wire step name (a step its participant did not answer for: none)."""
    return {s.name: records.steps.get(s.name, StepRecords()).effect for s in BOOK_FLIGHT.steps}


async def read(peers: Peers, saga_ids: Iterable[str]) -> dict[str, SagaRecords]:
    """Every step's participant's records of these sagas (read errors kept in `read_error`)."""
    stubs = {
        s.name: records_pb2_grpc.RecordsStub(peers.channel(s.participant.name))
        for s in BOOK_FLIGHT.steps
    }
    out: dict[str, SagaRecords] = {}

    async def one(saga_id: str) -> None:
        rec = out[saga_id] = SagaRecords(saga_id)
        req = records_pb2.GetSagaRecordsRequest(saga_id=saga_id)
        try:
            replies = [
                await stub.GetSagaRecords(req, timeout=READ_TIMEOUT_S) for stub in stubs.values()
            ]
        except grpc.aio.AioRpcError as exc:
            rec.read_error = f"{exc.code().name}: {exc.details()}"
            return
        rec.steps = {step: StepRecords.of(step, r) for step, r in zip(stubs, replies, strict=True)}

    await bounded(list(saga_ids), one, 8)
    return out
