"""payment_service wiring: database, barrier participant, servicer, interceptors."""

from __future__ import annotations

from flightsaga.v1 import payment_pb2, payment_pb2_grpc
from payment_service.ledger import SCHEMA
from payment_service.servicer import PaymentServicer
from sagakit.config import ServiceConfig
from sagakit.db import Database
from sagakit.interceptors import FaultInterceptor
from sagakit.participant import Participant
from sagakit.server import GrpcApp
from sagakit.steps import PROCESS_PAYMENT

SERVICE_NAME = payment_pb2.DESCRIPTOR.services_by_name["PaymentService"].full_name


def build(config: ServiceConfig) -> GrpcApp:
    db = Database(config.database, SCHEMA)
    participant = Participant(
        db, PROCESS_PAYMENT, payment_pb2.ChargeResponse, payment_pb2.RefundResponse
    )
    servicer = PaymentServicer(participant)
    return GrpcApp(
        name=config.service,
        services=[
            (
                SERVICE_NAME,
                lambda server: payment_pb2_grpc.add_PaymentServiceServicer_to_server(
                    servicer, server
                ),
            )
        ],
        interceptors=[FaultInterceptor(PROCESS_PAYMENT, config.fault_injection)],
        on_start=[db.open],
        on_stop=[db.close],
    )
