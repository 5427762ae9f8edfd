"""hotel_service wiring: database, barrier participant, servicer, interceptors."""

from examples.trip import trip_pb2_grpc
from examples.trip.hotel_service.servicer import HotelServicer
from sagakit.config import ServiceConfig
from sagakit.migrate import Migrations
from sagakit.participant import participant_app
from sagakit.server import GrpcApp


def build(config: ServiceConfig) -> GrpcApp:
    migrations = Migrations("examples.trip.hotel_service", marker_table="stays")
    add = trip_pb2_grpc.add_HotelServiceServicer_to_server
    return participant_app(config, migrations, HotelServicer, add)
