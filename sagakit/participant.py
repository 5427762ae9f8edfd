"""Do and Compensate of a participant, through the idempotency barrier, in one transaction."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, ClassVar, Generic, TypeVar

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import Message

from flightsaga.v1 import common_pb2, records_pb2_grpc
from sagakit import barrier, context, validate
from sagakit.auth import PeerIdentityInterceptor
from sagakit.config import ServiceConfig
from sagakit.databases import connect
from sagakit.db import Conn, Database
from sagakit.interceptors import FaultInterceptor
from sagakit.migrate import Migrations
from sagakit.records import SERVICE_NAME as RECORDS_SERVICE
from sagakit.records import Effect, RecordsServicer
from sagakit.retention import Retention
from sagakit.server import GrpcApp
from sagakit.timestamps import to_ts

DoRes = TypeVar("DoRes", bound=Message)
CompRes = TypeVar("CompRes", bound=Message)
Rec = TypeVar("Rec")

log = logging.getLogger("sagakit.participant")


class Participant(Generic[DoRes, CompRes]):
    """The barrier-guarded operations of one saga step, generic over its reply types."""

    def __init__(
        self, db: Database, step: str, do_reply: type[DoRes], compensate_reply: type[CompRes]
    ) -> None:
        self.db = db
        self.step = step
        self._do_reply = do_reply
        self._compensate_reply = compensate_reply

    async def do(self, saga_id: str, request: Message, apply: Callable[[Conn], DoRes]) -> DoRes:
        """Run `apply` once per saga; a replay of the same `request` returns the first reply,
        a Do with another request for the saga is refused."""
        saga_id = validate.saga_id(saga_id)
        context.saga_id.set(saga_id)
        body = request.SerializeToString(deterministic=True)

        def tx(conn: Conn) -> tuple[bytes, bool]:
            return barrier.do(
                conn, saga_id, self.step, body, lambda: apply(conn).SerializeToString()
            )

        raw, replay = await self.db.transaction(tx)
        log.info("[SAGA STEP] %s Do %s", self.step, "replayed (barrier)" if replay else "committed")
        return self._do_reply.FromString(raw)

    async def compensate(
        self,
        saga_id: str,
        undo: Callable[[Conn], CompRes],
    ) -> CompRes:
        saga_id = validate.saga_id(saga_id)
        context.saga_id.set(saga_id)

        # Every Compensate reply has saga_id and null_compensation (the contract); the class is
        # a generated message, which takes its fields by keyword (the stubs' Message does not).
        reply_type: Callable[..., CompRes] = self._compensate_reply

        def tx(conn: Conn) -> tuple[bytes, bool]:
            return barrier.compensate(
                conn,
                saga_id,
                self.step,
                lambda: undo(conn).SerializeToString(),
                lambda: reply_type(saga_id=saga_id, null_compensation=True).SerializeToString(),
            )

        raw, replay = await self.db.transaction(tx)
        reply = self._compensate_reply.FromString(raw)
        how = "replayed (barrier)" if replay else "committed"
        if getattr(reply, "null_compensation", False) and not replay:
            how = "null compensation (no Do had run)"
        log.info("[COMPENSATION] %s Compensate %s", self.step, how)
        return reply

    def barrier_marks(self, conn: Conn, saga_id: str) -> list[common_pb2.BarrierMark]:
        out = []
        for m in barrier.marks(conn, saga_id):
            mark = common_pb2.BarrierMark(
                saga_id=saga_id,
                step=str(m["step"]),
                do_done="do_at" in m,
                compensated="compensated_at" in m,
                null_compensation=bool(m.get("null_compensation", False)),
            )
            if (ts := to_ts(str(m.get("do_at", "")))) is not None:
                mark.do_at.CopyFrom(ts)
            if (ts := to_ts(str(m.get("compensated_at", "")))) is not None:
                mark.compensated_at.CopyFrom(ts)
            out.append(mark)
        return out


class ParticipantServicer(Generic[DoRes, CompRes]):
    """What every participant's servicer shares (a base beside its generated Servicer): the
    barrier-guarded step, its database, and the shape of Compensate and of the saga-records
    read. Do stays the servicer's own: each builds its domain request before the barrier."""

    # Set by each participant: its step and its gRPC service (whose Do and Compensate replies
    # are what the barrier stores and replays).
    STEP: ClassVar[str]
    SERVICE: ClassVar[ServiceDescriptor]

    @staticmethod
    def canonical_step(name: str, field: str) -> str:
        """A step name or alias as the participant's saga spells it (x-fail names a step);
        a participant of a declared saga answers with its declaration's."""
        return name.strip().lower().replace("-", "_")

    def __init__(self, participant: Participant[DoRes, CompRes]) -> None:
        self.participant = participant
        self.db = participant.db

    @staticmethod
    def effects(conn: Conn, saga_id: str) -> list[Effect]:
        """The adapter to the Records RPC: the business effects this service holds for a saga
        (each participant overrides it; `flightsaga conform` counts them)."""
        return []

    async def compensate_saga(self, saga_id: str, undo: Callable[[Conn, str], CompRes]) -> CompRes:
        """Compensate: the request's saga id checked, then `undo(conn, saga_id)` once, through
        the barrier."""
        saga_id = validate.saga_id(saga_id)
        return await self.participant.compensate(saga_id, lambda conn: undo(conn, saga_id))

    async def saga_records(
        self,
        saga_id: str,
        read: Callable[[Conn, str, list[common_pb2.BarrierMark]], Rec],
    ) -> Rec:
        """A read of what the service holds for a saga: the saga id checked, then
        `read(conn, saga_id, its barrier marks)` in one read transaction."""
        saga_id = validate.saga_id(saga_id)
        return await self.db.read(
            lambda conn: read(conn, saga_id, self.participant.barrier_marks(conn, saga_id))
        )


def _services(
    service: str,
    participant: Participant[Any, Any],
    servicer: type[ParticipantServicer[Any, Any]],
    add_to_server: Callable[[Any, grpc.aio.Server], None],
) -> list[tuple[str, Callable[[grpc.aio.Server], None]]]:
    """The step's own gRPC service, and the kit's Records over the same database."""
    records = RecordsServicer(participant.db, service, servicer.effects)
    return [
        (servicer.SERVICE.full_name, lambda server: add_to_server(servicer(participant), server)),
        (
            RECORDS_SERVICE,
            lambda server: records_pb2_grpc.add_RecordsServicer_to_server(records, server),
        ),
    ]


def participant_app(
    config: ServiceConfig,
    migrations: Migrations,
    servicer: type[ParticipantServicer[Any, Any]],
    add_to_server: Callable[[Any, grpc.aio.Server], None],
) -> GrpcApp:
    """Every participant's wiring: its database, the barrier-guarded step, its servicer (added
    to the server by the generated `add_to_server`), its Records (barrier rows and effects),
    fault injection, mTLS identity."""
    db = connect(config.database_url, migrations)
    replies = (
        message_factory.GetMessageClass(servicer.SERVICE.methods_by_name[rpc].output_type)
        for rpc in ("Do", "Compensate")
    )
    participant: Participant[Any, Any] = Participant(db, servicer.STEP, *replies)
    shared = db.dialect != "sqlite"

    async def prune(before: str, limit: int) -> int | None:
        return await db.transaction(lambda conn: barrier.prune(conn, before, limit, shared))

    retention = Retention("barrier marks", config.retention.barrier, config.retention, prune)

    async def start_retention() -> None:
        retention.start()

    return GrpcApp(
        name=config.service,
        services=_services(config.service, participant, servicer, add_to_server),
        interceptors=[
            # mTLS: Do/Compensate only from the orchestrator's certificate.
            *(
                [PeerIdentityInterceptor(config.tls.orchestrator_identity)]
                if config.tls.mutual
                else []
            ),
            FaultInterceptor(servicer.STEP, config.fault_injection, servicer.canonical_step),
        ],
        on_start=[db.open, start_retention],
        on_stop=[retention.stop, db.close],
        tls=config.tls,
    )
