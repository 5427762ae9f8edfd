"""booking_service wiring: database, barrier participant, servicer, interceptors."""

from __future__ import annotations

from booking_service.bookings import SCHEMA
from booking_service.servicer import BookingServicer
from flightsaga.v1 import booking_pb2, booking_pb2_grpc
from sagakit.config import ServiceConfig
from sagakit.db import Database
from sagakit.interceptors import FaultInterceptor
from sagakit.participant import Participant
from sagakit.server import GrpcApp
from sagakit.steps import CONFIRM_BOOKING

SERVICE_NAME = booking_pb2.DESCRIPTOR.services_by_name["BookingService"].full_name


def build(config: ServiceConfig) -> GrpcApp:
    db = Database(config.database, SCHEMA)
    participant = Participant(
        db, CONFIRM_BOOKING, booking_pb2.ConfirmBookingResponse, booking_pb2.CancelBookingResponse
    )
    servicer = BookingServicer(participant)
    return GrpcApp(
        name=config.service,
        services=[
            (
                SERVICE_NAME,
                lambda server: booking_pb2_grpc.add_BookingServiceServicer_to_server(
                    servicer, server
                ),
            )
        ],
        interceptors=[FaultInterceptor(CONFIRM_BOOKING, config.fault_injection)],
        on_start=[db.open],
        on_stop=[db.close],
    )
