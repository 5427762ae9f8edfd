"""The participant under check: its Do and Compensate (the step's own stubs) and its Records,
each call answered as an Outcome (a reply or a status), never an exception."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

from flightsaga.v1 import records_pb2, records_pb2_grpc
from sagakit.channels import open_channel
from sagakit.errors import details_of
from sagas.declare import SagaDeclaration

CALL_TIMEOUT_S = 15.0


def as_dict(message: Message) -> dict[str, Any]:
    return MessageToDict(message, preserving_proto_field_name=True)


@dataclass(frozen=True)
class Outcome:
    """What a call came back with: OK and its reply, or a status code, reason and message."""

    code: str
    reply: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.code == "OK"

    def describe(self) -> str:
        if self.ok:
            return "OK " + json.dumps(self.reply, sort_keys=True)
        reason = f" ({self.reason})" if self.reason else ""
        return f"{self.code}{reason}: {self.message}"


@dataclass(frozen=True)
class Records:
    """A saga's records as the participant's Records RPC gives them."""

    barrier: list[tuple[str, str, str]]  # (step, op, outcome), oldest first
    effects: list[tuple[str, str]]  # (kind, detail JSON), oldest first

    def ops(self, op: str, outcome: str = "") -> int:
        return sum(1 for _, o, out in self.barrier if o == op and outcome in ("", out))

    def describe(self) -> str:
        marks = ", ".join(f"{s}/{o}={out}" for s, o, out in self.barrier) or "none"
        effects = "; ".join(f"{k} {d}" for k, d in self.effects) or "none"
        return f"barrier: {marks} | effects: {effects}"


async def _call(method: Any, request: Message) -> tuple[Outcome, Message | None]:
    try:
        reply = await method(request, timeout=CALL_TIMEOUT_S)
    except grpc.aio.AioRpcError as exc:
        d = details_of(exc)
        return Outcome(exc.code().name, reason=d.reason, message=exc.details() or ""), None
    return Outcome("OK", as_dict(reply)), reply


class Subject:
    """One step's participant at `addr`, with the saga declaration that builds its requests.
    TLS as every client of the kit: from TLS_CA_FILE / TLS_CERT_FILE / TLS_KEY_FILE (under
    mTLS a participant takes Do and Compensate from the orchestrator's certificate only)."""

    def __init__(self, addr: str, saga: SagaDeclaration, step: str) -> None:
        self.addr = addr
        self.saga = saga
        self.step = saga.canonical_step(step, "--step")
        self.channel = open_channel(addr, token="")
        participant = saga.step(self.step).participant
        self._stub = participant.stub(self.channel)
        self._compensate_request = participant.compensate_request
        self._records = records_pb2_grpc.RecordsStub(self.channel)

    def request(self, saga_id: str, variant: int = 0) -> Message:
        return self.saga.sample_request(self.step, saga_id, variant)

    def compensate_request(self, saga_id: str) -> Message:
        return self._compensate_request(saga_id=saga_id)

    async def send_do(self, request: Message) -> Outcome:
        return (await _call(self._stub.Do, request))[0]

    async def do(self, saga_id: str, variant: int = 0) -> Outcome:
        return await self.send_do(self.request(saga_id, variant))

    async def compensate(self, saga_id: str) -> Outcome:
        return (await _call(self._stub.Compensate, self.compensate_request(saga_id)))[0]

    async def records_call(self, saga_id: str) -> Outcome:
        request = records_pb2.GetSagaRecordsRequest(saga_id=saga_id)
        return (await _call(self._records.GetSagaRecords, request))[0]

    async def records(self, saga_id: str) -> Records:
        request = records_pb2.GetSagaRecordsRequest(saga_id=saga_id)
        outcome, reply = await _call(self._records.GetSagaRecords, request)
        if not isinstance(reply, records_pb2.SagaRecords):
            raise RecordsUnreadable(f"Records.GetSagaRecords({saga_id}): {outcome.describe()}")
        return Records(
            [(b.step, b.op, b.outcome) for b in reply.barrier],
            [(e.kind, e.detail_json) for e in reply.effects],
        )

    async def close(self) -> None:
        await self.channel.close()


class RecordsUnreadable(Exception):
    """The participant's Records RPC did not answer: no clause can be judged."""
