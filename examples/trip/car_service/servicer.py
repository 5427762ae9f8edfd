"""CarService: protobuf <-> the fleet module (rows by field name); no business rules here."""

from __future__ import annotations

from typing import TypeVar

import grpc
from google.protobuf.json_format import ParseDict
from google.protobuf.message import Message

from examples.trip import RENT_CAR, TRIP, trip_pb2_grpc
from examples.trip import trip_pb2 as pb
from examples.trip.car_service import fleet
from flightsaga.v1.common_pb2 import BarrierMark
from sagakit.db import Conn
from sagakit.participant import ParticipantServicer
from sagakit.records import Effect, row_effect

M = TypeVar("M", bound=Message)


def reply(row: fleet.Row, message: M) -> M:
    return ParseDict(row, message, ignore_unknown_fields=True)  # the fields `message` has


class CarServicer(
    ParticipantServicer[pb.RentCarResponse, pb.ReturnCarResponse],
    trip_pb2_grpc.CarServiceServicer,
):
    STEP = RENT_CAR
    canonical_step = staticmethod(TRIP.canonical_step)
    SERVICE = pb.DESCRIPTOR.services_by_name["CarService"]

    @staticmethod
    def effects(conn: Conn, saga_id: str) -> list[Effect]:
        return row_effect("rental", fleet.rental(conn, saga_id))

    async def Do(
        self, request: pb.RentCarRequest, context: grpc.aio.ServicerContext
    ) -> pb.RentCarResponse:
        r = request
        car = fleet.request(r.driver, r.city, r.pick_up, r.days, r.car_class)

        def rent(conn: Conn) -> pb.RentCarResponse:
            return reply(fleet.rent(conn, r.saga_id, car), pb.RentCarResponse())

        return await self.participant.do(r.saga_id, request, rent)

    async def Compensate(
        self, request: pb.ReturnCarRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReturnCarResponse:
        def give_back(conn: Conn, saga_id: str) -> pb.ReturnCarResponse:
            return reply(fleet.give_back(conn, saga_id), pb.ReturnCarResponse())

        return await self.compensate_saga(request.saga_id, give_back)

    async def GetRental(
        self, request: pb.RentalRequest, context: grpc.aio.ServicerContext
    ) -> pb.Rental:
        def read(conn: Conn, saga_id: str, barrier: list[BarrierMark]) -> pb.Rental:
            return reply(fleet.rental(conn, saga_id), pb.Rental(barrier=barrier))

        return await self.saga_records(request.saga_id, read)
