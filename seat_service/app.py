"""seat_service wiring: database, barrier participant, servicer, interceptors."""

from __future__ import annotations

from flightsaga.v1 import seat_pb2, seat_pb2_grpc
from sagakit.config import ServiceConfig
from sagakit.migrate import Migrations
from sagakit.participant import participant_app
from sagakit.server import GrpcApp
from sagakit.steps import RESERVE_SEAT
from seat_service.servicer import SeatServicer

SERVICE_NAME = seat_pb2.DESCRIPTOR.services_by_name["SeatService"].full_name


def build(config: ServiceConfig) -> GrpcApp:
    return participant_app(
        config,
        RESERVE_SEAT,
        Migrations("seat_service", marker_table="seat_holds"),
        (seat_pb2.ReserveSeatsResponse, seat_pb2.ReleaseSeatsResponse),
        SERVICE_NAME,
        lambda participant, server: seat_pb2_grpc.add_SeatServiceServicer_to_server(
            SeatServicer(participant), server
        ),
    )
