"""Participants broken on purpose, built from the kit like a real one (participant_app, the
Records adapter) but with the barrier disabled or misused: what `flightsaga conform` must fail,
naming the clauses. Each serves the loyalty step (LoyaltyService) over a points ledger that
keeps every movement, so an effect applied twice shows twice.

    async with running_broken("no_barrier", tmp_path) as addr: ...
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, ClassVar

import grpc
from google.protobuf.message import Message

from flightsaga.v1 import loyalty_pb2, loyalty_pb2_grpc
from flightsaga.v1.loyalty_pb2 import DeductPointsResponse as Deduct
from flightsaga.v1.loyalty_pb2 import RefundPointsResponse as Refund
from sagakit import barrier, validate
from sagakit.db import Conn
from sagakit.errors import InvalidArgument
from sagakit.migrate import Migrations
from sagakit.participant import Participant, ParticipantServicer, participant_app
from sagakit.records import Effect
from sagas.booking import DEDUCT_LOYALTY_POINTS
from tests.support.services import config_for

MIGRATIONS = Migrations("tests.support.broken_participants", marker_table="movements")


class NoBarrier(Participant[Deduct, Refund]):
    """Every Do and every Compensate applies its change: no marks at all."""

    async def do(self, saga_id: str, request: Message, apply: Callable[[Conn], Deduct]) -> Deduct:
        validate.saga_id(saga_id)
        return await self.db.transaction(apply)

    async def compensate(self, saga_id: str, undo: Callable[[Conn], Refund]) -> Refund:
        return await self.db.transaction(undo)


def _forget(conn: Conn, saga_id: str, step: str) -> None:
    conn.execute(
        "DELETE FROM saga_barrier WHERE saga_id=? AND step=? AND op='compensate'", (saga_id, step)
    )


class CompensatesTwice(Participant[Deduct, Refund]):
    """Forgets its Compensate mark before each Compensate: a repeat refunds again."""

    async def compensate(self, saga_id: str, undo: Callable[[Conn], Refund]) -> Refund:
        await self.db.transaction(lambda conn: _forget(conn, saga_id, self.step))
        return await super().compensate(saga_id, undo)


class AcceptsLateDo(Participant[Deduct, Refund]):
    """Forgets the Compensate mark before each Do: a Do after its Compensate deducts."""

    async def do(self, saga_id: str, request: Message, apply: Callable[[Conn], Deduct]) -> Deduct:
        await self.db.transaction(lambda conn: _forget(conn, saga_id, self.step))
        return await super().do(saga_id, request, apply)


def _insert(conn: Conn, saga_id: str, account_id: str, delta: int, kind: str) -> None:
    conn.execute(
        "INSERT INTO movements (saga_id, account_id, delta, kind, at) VALUES (?, ?, ?, ?, ?)",
        (saga_id, account_id, delta, kind, barrier.now_iso()),
    )


def _deducted(conn: Conn, saga_id: str) -> tuple[str, int]:
    row = conn.execute(
        "SELECT account_id, delta FROM movements WHERE saga_id=? AND kind='deduction'"
        " ORDER BY id LIMIT 1",
        (saga_id,),
    ).fetchone()
    return (str(row["account_id"]), -int(row["delta"])) if row else ("", 0)


class BrokenLoyalty(ParticipantServicer[Deduct, Refund], loyalty_pb2_grpc.LoyaltyServiceServicer):
    STEP = DEDUCT_LOYALTY_POINTS
    SERVICE = loyalty_pb2.DESCRIPTOR.services_by_name["LoyaltyService"]
    BARRIER: ClassVar[type[Participant[Deduct, Refund]]]

    def __init__(self, participant: Participant[Any, Any]) -> None:
        super().__init__(self.BARRIER(participant.db, self.STEP, Deduct, Refund))

    @staticmethod
    def effects(conn: Conn, saga_id: str) -> list[Effect]:
        rows = conn.execute(
            "SELECT account_id, delta, kind, at FROM movements WHERE saga_id=? ORDER BY id",
            (saga_id,),
        ).fetchall()
        return [Effect(r["kind"], r["at"], {"account": r["account_id"], "delta": r["delta"]})
                for r in rows]  # fmt: skip

    async def Do(
        self, request: loyalty_pb2.DeductPointsRequest, context: grpc.aio.ServicerContext
    ) -> Deduct:
        saga_id = validate.saga_id(request.saga_id)
        account = validate.text("account_id", request.account_id)
        if request.points <= 0:
            raise InvalidArgument("points", "must be positive")

        def apply(conn: Conn) -> Deduct:
            _insert(conn, saga_id, account, -request.points, "deduction")
            return Deduct(saga_id=saga_id, account_id=account, points_deducted=request.points)

        return await self.participant.do(saga_id, request, apply)

    async def Compensate(
        self, request: loyalty_pb2.RefundPointsRequest, context: grpc.aio.ServicerContext
    ) -> Refund:
        def undo(conn: Conn, saga_id: str) -> Refund:
            account, points = _deducted(conn, saga_id)
            _insert(conn, saga_id, account, points, "refund")
            total = conn.execute(
                "SELECT COUNT(*) FROM movements WHERE saga_id=? AND kind='refund'", (saga_id,)
            ).fetchone()[0]
            return Refund(saga_id=saga_id, points_refunded=points, balance_after=int(total))

        return await self.compensate_saga(request.saga_id, undo)


def _servicer(barrier_class: type[Participant[Deduct, Refund]]) -> type[BrokenLoyalty]:
    return type(f"Broken{barrier_class.__name__}", (BrokenLoyalty,), {"BARRIER": barrier_class})


# name -> (its servicer, the clauses conform must fail; `maybe`: those a race may also fail)
BROKEN: dict[str, tuple[type[BrokenLoyalty], frozenset[str], frozenset[str]]] = {
    "no_barrier": (
        _servicer(NoBarrier),
        frozenset({"repeated_do", "conflicting_do", "repeated_compensate", "null_compensate",
                   "late_do", "concurrent_do", "racing_do_compensate"}),
        frozenset(),
    ),
    "compensates_twice": (_servicer(CompensatesTwice), frozenset({"repeated_compensate"}),
                          frozenset()),
    # Its races go wrong only when the Compensate wins (a null mark, then the Do deducts).
    "accepts_late_do": (_servicer(AcceptsLateDo), frozenset({"late_do"}),
                        frozenset({"racing_do_compensate"})),
}  # fmt: skip


@asynccontextmanager
async def running_broken(name: str, data_dir: Path) -> AsyncIterator[str]:
    """Serve the broken participant `name` on 127.0.0.1:0; yields its address."""
    config = config_for(f"broken_{name}", data_dir)
    servicer = BROKEN[name][0]
    app = participant_app(
        config, MIGRATIONS, servicer, loyalty_pb2_grpc.add_LoyaltyServiceServicer_to_server
    )
    port = await app.start("127.0.0.1", 0)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await app.stop(0)
