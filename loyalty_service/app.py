"""loyalty_service wiring: database, barrier participant, servicer, interceptors."""

from __future__ import annotations

from flightsaga.v1 import loyalty_pb2_grpc
from loyalty_service.servicer import LoyaltyServicer
from sagakit.config import ServiceConfig
from sagakit.migrate import Migrations
from sagakit.participant import participant_app
from sagakit.server import GrpcApp


def build(config: ServiceConfig) -> GrpcApp:
    return participant_app(
        config,
        Migrations("loyalty_service", marker_table="accounts"),
        LoyaltyServicer,
        loyalty_pb2_grpc.add_LoyaltyServiceServicer_to_server,
    )
