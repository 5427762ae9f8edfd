"""booking_service wiring: database, barrier participant, servicer, interceptors."""

from __future__ import annotations

from booking_service.servicer import BookingServicer
from flightsaga.v1 import booking_pb2, booking_pb2_grpc
from sagakit.config import ServiceConfig
from sagakit.migrate import Migrations
from sagakit.participant import participant_app
from sagakit.server import GrpcApp
from sagakit.steps import CONFIRM_BOOKING

SERVICE_NAME = booking_pb2.DESCRIPTOR.services_by_name["BookingService"].full_name


def build(config: ServiceConfig) -> GrpcApp:
    return participant_app(
        config,
        CONFIRM_BOOKING,
        Migrations("booking_service", marker_table="bookings"),
        (booking_pb2.ConfirmBookingResponse, booking_pb2.CancelBookingResponse),
        SERVICE_NAME,
        lambda participant, server: booking_pb2_grpc.add_BookingServiceServicer_to_server(
            BookingServicer(participant), server
        ),
    )
