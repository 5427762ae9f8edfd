"""booking_service wiring: database, barrier participant, servicer, interceptors."""

from __future__ import annotations

from booking_service.servicer import BookingServicer
from flightsaga.v1 import booking_pb2_grpc
from sagakit.config import ServiceConfig
from sagakit.migrate import Migrations
from sagakit.participant import participant_app
from sagakit.server import GrpcApp


def build(config: ServiceConfig) -> GrpcApp:
    return participant_app(
        config,
        Migrations("booking_service", marker_table="bookings"),
        BookingServicer,
        booking_pb2_grpc.add_BookingServiceServicer_to_server,
    )
