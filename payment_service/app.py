"""payment_service wiring: database, barrier participant, servicer, interceptors."""

from __future__ import annotations

from flightsaga.v1 import payment_pb2_grpc
from payment_service.servicer import PaymentServicer
from sagakit.config import ServiceConfig
from sagakit.migrate import Migrations
from sagakit.participant import participant_app
from sagakit.server import GrpcApp


def build(config: ServiceConfig) -> GrpcApp:
    return participant_app(
        config,
        Migrations("payment_service", marker_table="ledger"),
        PaymentServicer,
        payment_pb2_grpc.add_PaymentServiceServicer_to_server,
    )
