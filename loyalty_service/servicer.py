"""LoyaltyService: protobuf <-> the ledger module; no business rules here."""

from __future__ import annotations

import grpc

from flightsaga.v1 import common_pb2, loyalty_pb2, loyalty_pb2_grpc
from loyalty_service import ledger
from sagakit import validate
from sagakit.db import Conn
from sagakit.participant import ParticipantServicer
from sagakit.records import Effect
from sagakit.timestamps import to_ts
from sagas.booking import DEDUCT_LOYALTY_POINTS, canonical_step


class LoyaltyServicer(
    ParticipantServicer[loyalty_pb2.DeductPointsResponse, loyalty_pb2.RefundPointsResponse],
    loyalty_pb2_grpc.LoyaltyServiceServicer,
):
    STEP = DEDUCT_LOYALTY_POINTS
    canonical_step = staticmethod(canonical_step)
    SERVICE = loyalty_pb2.DESCRIPTOR.services_by_name["LoyaltyService"]

    @staticmethod
    def effects(conn: Conn, saga_id: str) -> list[Effect]:
        return [
            Effect(
                m.kind,
                m.at,
                {"account_id": m.account_id, "delta": m.delta, "balance_after": m.balance_after},
            )
            for m in ledger.movements(conn, saga_id)
        ]

    async def Do(
        self, request: loyalty_pb2.DeductPointsRequest, context: grpc.aio.ServicerContext
    ) -> loyalty_pb2.DeductPointsResponse:
        saga_id = validate.saga_id(request.saga_id)
        d = ledger.deduction(request.account_id, request.points, request.max_value_cents)

        def apply(conn: Conn) -> loyalty_pb2.DeductPointsResponse:
            m = ledger.deduct(conn, saga_id, d)
            return loyalty_pb2.DeductPointsResponse(
                saga_id=saga_id,
                account_id=m.account_id,
                points_deducted=-m.delta,
                value_cents=ledger.points_value_cents(-m.delta),
                balance_after=m.balance_after,
            )

        return await self.participant.do(saga_id, request, apply)

    async def Compensate(
        self, request: loyalty_pb2.RefundPointsRequest, context: grpc.aio.ServicerContext
    ) -> loyalty_pb2.RefundPointsResponse:
        def undo(conn: Conn, saga_id: str) -> loyalty_pb2.RefundPointsResponse:
            m = ledger.refund(conn, saga_id)
            return loyalty_pb2.RefundPointsResponse(
                saga_id=saga_id, points_refunded=m.delta, balance_after=m.balance_after
            )

        return await self.compensate_saga(request.saga_id, undo)

    async def GetAccount(
        self, request: loyalty_pb2.GetAccountRequest, context: grpc.aio.ServicerContext
    ) -> loyalty_pb2.Account:
        account_id = validate.text("account_id", request.account_id).upper()
        a = await self.db.read(lambda conn: ledger.account(conn, account_id))
        return loyalty_pb2.Account(
            account_id=a.account_id, holder_name=a.holder_name, balance=a.balance, tier=a.tier
        )

    async def GetMovements(
        self, request: common_pb2.SagaRecordsRequest, context: grpc.aio.ServicerContext
    ) -> loyalty_pb2.PointsMovements:
        def read(
            conn: Conn, saga_id: str, barrier: list[common_pb2.BarrierMark]
        ) -> loyalty_pb2.PointsMovements:
            reply = loyalty_pb2.PointsMovements(saga_id=saga_id, barrier=barrier)
            for m in ledger.movements(conn, saga_id):
                pm = reply.movements.add(
                    account_id=m.account_id,
                    delta=m.delta,
                    kind=m.kind,
                    balance_after=m.balance_after,
                )
                if (ts := to_ts(m.at)) is not None:
                    pm.at.CopyFrom(ts)
            return reply

        return await self.saga_records(request.saga_id, read)
