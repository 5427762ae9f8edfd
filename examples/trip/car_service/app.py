"""car_service wiring: database, barrier participant, servicer, interceptors."""

from examples.trip import trip_pb2_grpc
from examples.trip.car_service.servicer import CarServicer
from sagakit.config import ServiceConfig
from sagakit.migrate import Migrations
from sagakit.participant import participant_app
from sagakit.server import GrpcApp


def build(config: ServiceConfig) -> GrpcApp:
    migrations = Migrations("examples.trip.car_service", marker_table="rentals")
    add = trip_pb2_grpc.add_CarServiceServicer_to_server
    return participant_app(config, migrations, CarServicer, add)
