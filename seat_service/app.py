"""seat_service wiring: database, barrier participant, servicer, interceptors."""

from __future__ import annotations

from flightsaga.v1 import seat_pb2_grpc
from sagakit.config import ServiceConfig
from sagakit.migrate import Migrations
from sagakit.participant import participant_app
from sagakit.server import GrpcApp
from seat_service.servicer import SeatServicer


def build(config: ServiceConfig) -> GrpcApp:
    return participant_app(
        config,
        Migrations("seat_service", marker_table="seat_holds"),
        SeatServicer,
        seat_pb2_grpc.add_SeatServiceServicer_to_server,
    )
