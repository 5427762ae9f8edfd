"""HotelService: protobuf <-> the rooms module (rows by field name); no business rules here."""

from __future__ import annotations

from typing import TypeVar

import grpc
from google.protobuf.json_format import ParseDict
from google.protobuf.message import Message

from examples.trip import BOOK_ROOM, TRIP, trip_pb2_grpc
from examples.trip import trip_pb2 as pb
from examples.trip.hotel_service import rooms
from flightsaga.v1.common_pb2 import BarrierMark
from sagakit.db import Conn
from sagakit.participant import ParticipantServicer
from sagakit.records import Effect, row_effect

M = TypeVar("M", bound=Message)


def reply(row: rooms.Row, message: M) -> M:
    return ParseDict(row, message, ignore_unknown_fields=True)  # the fields `message` has


class HotelServicer(
    ParticipantServicer[pb.BookRoomResponse, pb.CancelRoomResponse],
    trip_pb2_grpc.HotelServiceServicer,
):
    STEP = BOOK_ROOM
    canonical_step = staticmethod(TRIP.canonical_step)
    SERVICE = pb.DESCRIPTOR.services_by_name["HotelService"]

    @staticmethod
    def effects(conn: Conn, saga_id: str) -> list[Effect]:
        return row_effect("stay", rooms.stay(conn, saga_id))

    async def Do(
        self, request: pb.BookRoomRequest, context: grpc.aio.ServicerContext
    ) -> pb.BookRoomResponse:
        stay = rooms.request(request.guest, request.city, request.check_in, request.nights)

        def book(conn: Conn) -> pb.BookRoomResponse:
            return reply(rooms.book(conn, request.saga_id, stay), pb.BookRoomResponse())

        return await self.participant.do(request.saga_id, request, book)

    async def Compensate(
        self, request: pb.CancelRoomRequest, context: grpc.aio.ServicerContext
    ) -> pb.CancelRoomResponse:
        def cancel(conn: Conn, saga_id: str) -> pb.CancelRoomResponse:
            return reply(rooms.cancel(conn, saga_id), pb.CancelRoomResponse())

        return await self.compensate_saga(request.saga_id, cancel)

    async def GetStay(self, request: pb.StayRequest, context: grpc.aio.ServicerContext) -> pb.Stay:
        def read(conn: Conn, saga_id: str, barrier: list[BarrierMark]) -> pb.Stay:
            return reply(rooms.stay(conn, saga_id), pb.Stay(barrier=barrier))

        return await self.saga_records(request.saga_id, read)
