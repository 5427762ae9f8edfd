"""loyalty_service wiring: database, barrier participant, servicer, interceptors."""

from __future__ import annotations

from flightsaga.v1 import loyalty_pb2, loyalty_pb2_grpc
from loyalty_service.ledger import SCHEMA
from loyalty_service.servicer import LoyaltyServicer
from sagakit.config import ServiceConfig
from sagakit.db import Database
from sagakit.interceptors import FaultInterceptor
from sagakit.participant import Participant
from sagakit.server import GrpcApp
from sagakit.steps import DEDUCT_LOYALTY_POINTS

SERVICE_NAME = loyalty_pb2.DESCRIPTOR.services_by_name["LoyaltyService"].full_name


def build(config: ServiceConfig) -> GrpcApp:
    db = Database(config.database, SCHEMA)
    participant = Participant(
        db,
        DEDUCT_LOYALTY_POINTS,
        loyalty_pb2.DeductPointsResponse,
        loyalty_pb2.RefundPointsResponse,
    )
    servicer = LoyaltyServicer(participant)
    return GrpcApp(
        name=config.service,
        services=[
            (
                SERVICE_NAME,
                lambda server: loyalty_pb2_grpc.add_LoyaltyServiceServicer_to_server(
                    servicer, server
                ),
            )
        ],
        interceptors=[FaultInterceptor(DEDUCT_LOYALTY_POINTS, config.fault_injection)],
        on_start=[db.open],
        on_stop=[db.close],
    )
