"""Do and Compensate of a participant, through the idempotency barrier, in one transaction."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Generic, TypeVar

import grpc
from google.protobuf.message import Message

from flightsaga.v1 import common_pb2
from sagakit import barrier, context, validate
from sagakit.auth import PeerIdentityInterceptor
from sagakit.config import ServiceConfig
from sagakit.db import Conn, Database, connect
from sagakit.interceptors import FaultInterceptor
from sagakit.migrate import Migrations
from sagakit.retention import Retention
from sagakit.server import GrpcApp
from sagakit.timestamps import to_ts

DoRes = TypeVar("DoRes", bound=Message)
CompRes = TypeVar("CompRes", bound=Message)

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

    async def do(self, saga_id: str, apply: Callable[[Conn], DoRes]) -> DoRes:
        """Run `apply` once per saga; a replay returns the first reply."""
        saga_id = validate.saga_id(saga_id)
        context.saga_id.set(saga_id)

        def tx(conn: Conn) -> tuple[bytes, bool]:
            return barrier.do(conn, saga_id, self.step, lambda: apply(conn).SerializeToString())

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

        def tx(conn: Conn) -> tuple[bytes, bool]:
            return barrier.compensate(
                conn,
                saga_id,
                self.step,
                lambda: undo(conn).SerializeToString(),
                # Every Compensate reply has saga_id and null_compensation (the contract).
                lambda: self._compensate_reply(
                    saga_id=saga_id, null_compensation=True
                ).SerializeToString(),
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


def participant_app(
    config: ServiceConfig,
    step: str,
    migrations: Migrations,
    replies: tuple[type[DoRes], type[CompRes]],
    service_name: str,
    register: Callable[[Participant[DoRes, CompRes], grpc.aio.Server], None],
) -> GrpcApp:
    """Every participant's wiring: its database, the barrier-guarded step, fault injection.

    `register(participant, server)` builds the service's servicer and adds it to the server.
    """
    db = connect(config.database_url, migrations)
    participant = Participant(db, step, *replies)
    shared = db.dialect != "sqlite"

    async def prune(before: str, limit: int) -> int | None:
        return await db.transaction(lambda conn: barrier.prune(conn, before, limit, shared))

    retention = Retention("barrier marks", config.retention.barrier, config.retention, prune)

    async def start_retention() -> None:
        retention.start()

    return GrpcApp(
        name=config.service,
        services=[(service_name, lambda server: register(participant, server))],
        interceptors=[
            # mTLS: Do/Compensate only from the orchestrator's certificate.
            *(
                [PeerIdentityInterceptor(config.tls.orchestrator_identity)]
                if config.tls.mutual
                else []
            ),
            FaultInterceptor(step, config.fault_injection),
        ],
        on_start=[db.open, start_retention],
        on_stop=[retention.stop, db.close],
        tls=config.tls,
    )
