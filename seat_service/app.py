"""seat_service wiring: database, barrier participant, servicer, interceptors."""

from __future__ import annotations

from flightsaga.v1 import seat_pb2, seat_pb2_grpc
from sagakit.config import ServiceConfig
from sagakit.db import Database
from sagakit.interceptors import FaultInterceptor
from sagakit.participant import Participant
from sagakit.server import GrpcApp
from sagakit.steps import RESERVE_SEAT
from seat_service.inventory import SCHEMA
from seat_service.servicer import SeatServicer

SERVICE_NAME = seat_pb2.DESCRIPTOR.services_by_name["SeatService"].full_name


def build(config: ServiceConfig) -> GrpcApp:
    db = Database(config.database, SCHEMA)
    participant = Participant(
        db, RESERVE_SEAT, seat_pb2.ReserveSeatsResponse, seat_pb2.ReleaseSeatsResponse
    )
    servicer = SeatServicer(participant)
    return GrpcApp(
        name=config.service,
        services=[
            (
                SERVICE_NAME,
                lambda server: seat_pb2_grpc.add_SeatServiceServicer_to_server(servicer, server),
            )
        ],
        interceptors=[FaultInterceptor(RESERVE_SEAT, config.fault_injection)],
        on_start=[db.open],
        on_stop=[db.close],
    )
