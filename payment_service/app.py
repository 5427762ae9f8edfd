"""payment_service wiring: database, barrier participant, servicer, interceptors."""

from __future__ import annotations

from flightsaga.v1 import payment_pb2, payment_pb2_grpc
from payment_service.servicer import PaymentServicer
from sagakit.config import ServiceConfig
from sagakit.migrate import Migrations
from sagakit.participant import participant_app
from sagakit.server import GrpcApp
from sagakit.steps import PROCESS_PAYMENT

SERVICE_NAME = payment_pb2.DESCRIPTOR.services_by_name["PaymentService"].full_name


def build(config: ServiceConfig) -> GrpcApp:
    return participant_app(
        config,
        PROCESS_PAYMENT,
        Migrations("payment_service", marker_table="ledger"),
        (payment_pb2.ChargeResponse, payment_pb2.RefundResponse),
        SERVICE_NAME,
        lambda participant, server: payment_pb2_grpc.add_PaymentServiceServicer_to_server(
            PaymentServicer(participant), server
        ),
    )
