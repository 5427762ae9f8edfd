"""loyalty_service wiring: database, barrier participant, servicer, interceptors."""

from __future__ import annotations

from flightsaga.v1 import loyalty_pb2, loyalty_pb2_grpc
from loyalty_service.servicer import LoyaltyServicer
from sagakit.config import ServiceConfig
from sagakit.migrate import Migrations
from sagakit.participant import participant_app
from sagakit.server import GrpcApp
from sagakit.steps import DEDUCT_LOYALTY_POINTS

SERVICE_NAME = loyalty_pb2.DESCRIPTOR.services_by_name["LoyaltyService"].full_name


def build(config: ServiceConfig) -> GrpcApp:
    return participant_app(
        config,
        DEDUCT_LOYALTY_POINTS,
        Migrations("loyalty_service", marker_table="accounts"),
        (loyalty_pb2.DeductPointsResponse, loyalty_pb2.RefundPointsResponse),
        SERVICE_NAME,
        lambda participant, server: loyalty_pb2_grpc.add_LoyaltyServiceServicer_to_server(
            LoyaltyServicer(participant), server
        ),
    )
