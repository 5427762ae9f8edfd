"""PaymentService: protobuf <-> the cards and ledger modules; no business rules here."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc

from flightsaga.v1 import common_pb2, payment_pb2, payment_pb2_grpc
from payment_service import card_processor, ledger, vault
from sagakit import validate
from sagakit.db import Conn
from sagakit.errors import InvalidArgument
from sagakit.participant import ParticipantServicer
from sagakit.records import Effect
from sagakit.timestamps import to_ts
from sagas.booking import PROCESS_PAYMENT, canonical_step


class PaymentServicer(
    ParticipantServicer[payment_pb2.ChargeResponse, payment_pb2.RefundResponse],
    payment_pb2_grpc.PaymentServiceServicer,
):
    STEP = PROCESS_PAYMENT
    canonical_step = staticmethod(canonical_step)
    SERVICE = payment_pb2.DESCRIPTOR.services_by_name["PaymentService"]

    @staticmethod
    def effects(conn: Conn, saga_id: str) -> list[Effect]:
        return [
            Effect(
                e.kind,
                e.at,
                {
                    "entry_id": e.entry_id,
                    "amount_cents": e.amount_cents,
                    "currency": e.currency,
                    "card_last4": e.card_last4,
                },
            )
            for e in ledger.entries(conn, saga_id)
        ]

    async def Do(
        self, request: payment_pb2.ChargeRequest, context: grpc.aio.ServicerContext
    ) -> payment_pb2.ChargeResponse:
        saga_id = validate.saga_id(request.saga_id)
        card = request.card
        c = ledger.charge_request(
            request.amount_cents,
            request.currency,
            (card.number, card.exp_month, card.exp_year, card.cvc, card.holder_name)
            if request.HasField("card")
            else None,
            request.description,
            token=card.token,
        )

        def apply(conn: Conn) -> payment_pb2.ChargeResponse:
            e = ledger.charge(conn, saga_id, c)
            return payment_pb2.ChargeResponse(
                saga_id=saga_id,
                transaction_id=e.entry_id,
                amount_cents=e.amount_cents,
                currency=e.currency,
                card_last4=e.card_last4,
                card_brand=e.card_brand,
            )

        return await self.participant.do(saga_id, request, apply)

    async def Tokenize(
        self, request: payment_pb2.TokenizeRequest, context: grpc.aio.ServicerContext
    ) -> payment_pb2.TokenizeResponse:
        if not request.HasField("card"):
            raise InvalidArgument("card", "is required")
        c = request.card
        info = card_processor.check(
            c.number, c.exp_month, c.exp_year, c.cvc, c.holder_name, datetime.now(UTC).date()
        )

        def keep(conn: Conn) -> str:
            return vault.tokenize(conn, info, c.exp_month, c.exp_year, c.holder_name)

        token = await self.db.transaction(keep)
        return payment_pb2.TokenizeResponse(token=token, last4=info.last4, brand=info.brand)

    async def Compensate(
        self, request: payment_pb2.RefundRequest, context: grpc.aio.ServicerContext
    ) -> payment_pb2.RefundResponse:
        def undo(conn: Conn, saga_id: str) -> payment_pb2.RefundResponse:
            e = ledger.refund(conn, saga_id)
            return payment_pb2.RefundResponse(
                saga_id=saga_id, refund_id=e.entry_id, amount_cents=e.amount_cents
            )

        return await self.compensate_saga(request.saga_id, undo)

    async def GetPayments(
        self, request: common_pb2.SagaRecordsRequest, context: grpc.aio.ServicerContext
    ) -> payment_pb2.Payments:
        def read(
            conn: Conn, saga_id: str, barrier: list[common_pb2.BarrierMark]
        ) -> payment_pb2.Payments:
            reply = payment_pb2.Payments(saga_id=saga_id, barrier=barrier)
            for e in ledger.entries(conn, saga_id):
                entry = reply.entries.add(
                    entry_id=e.entry_id,
                    kind=e.kind,
                    amount_cents=e.amount_cents,
                    currency=e.currency,
                    card_last4=e.card_last4,
                )
                if (ts := to_ts(e.at)) is not None:
                    entry.at.CopyFrom(ts)
            return reply

        return await self.saga_records(request.saga_id, read)
