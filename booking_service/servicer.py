"""BookingService: protobuf <-> the bookings module; no business rules here."""

from __future__ import annotations

import grpc

from booking_service import bookings
from booking_service.bookings import Booking
from flightsaga.v1 import booking_pb2, booking_pb2_grpc, common_pb2
from sagakit import validate
from sagakit.db import Conn
from sagakit.errors import InvalidArgument
from sagakit.participant import ParticipantServicer
from sagakit.records import Effect
from sagakit.timestamps import to_ts
from sagas.booking import CONFIRM_BOOKING, canonical_step


def _booking(b: Booking) -> booking_pb2.Booking:
    it = b.itinerary
    msg = booking_pb2.Booking(
        booking_reference=b.reference,
        saga_id=b.saga_id,
        customer_id=b.customer_id,
        status=b.status,
        passengers=[
            common_pb2.Passenger(first_name=f, last_name=last, date_of_birth=dob)
            for f, last, dob in it.passengers
        ],
        cabin_class=it.cabin_class,  # type: ignore[arg-type]
        seats=[
            common_pb2.SeatAssignment(flight_id=f, passenger_index=i, seat=s)
            for f, i, s in it.seats
        ],
        flight_ids=it.flight_ids,
        fare_cents=it.fare_cents,
        points_used=it.points_used,
        amount_charged_cents=it.amount_charged_cents,
        transaction_id=it.transaction_id,
        currency=it.currency,
    )
    if (ts := to_ts(b.created_at)) is not None:
        msg.created_at.CopyFrom(ts)
    if (ts := to_ts(b.cancelled_at)) is not None:
        msg.cancelled_at.CopyFrom(ts)
    return msg


class BookingServicer(
    ParticipantServicer[booking_pb2.ConfirmBookingResponse, booking_pb2.CancelBookingResponse],
    booking_pb2_grpc.BookingServiceServicer,
):
    STEP = CONFIRM_BOOKING
    canonical_step = staticmethod(canonical_step)
    SERVICE = booking_pb2.DESCRIPTOR.services_by_name["BookingService"]

    @staticmethod
    def effects(conn: Conn, saga_id: str) -> list[Effect]:
        out = []
        for b in bookings.of_saga(conn, saga_id):
            ref = {"booking_reference": b.reference}
            out.append(Effect("booking_confirmed", b.created_at, ref))
            if b.cancelled_at:
                out.append(Effect("booking_cancelled", b.cancelled_at, ref))
        return out

    async def Do(
        self, request: booking_pb2.ConfirmBookingRequest, context: grpc.aio.ServicerContext
    ) -> booking_pb2.ConfirmBookingResponse:
        saga_id = validate.saga_id(request.saga_id)
        customer_id = validate.text("customer_id", request.customer_id).upper()
        it = bookings.itinerary(
            [(p.first_name, p.last_name, p.date_of_birth) for p in request.passengers],
            request.cabin_class,
            [(s.flight_id, s.passenger_index, s.seat) for s in request.seats],
            list(request.flight_ids),
            {
                "fare_cents": request.fare_cents,
                "points_used": request.points_used,
                "points_value_cents": request.points_value_cents,
                "amount_charged_cents": request.amount_charged_cents,
            },
            request.transaction_id,
            request.currency,
        )

        def apply(conn: Conn) -> booking_pb2.ConfirmBookingResponse:
            b = bookings.confirm(conn, saga_id, customer_id, it)
            return booking_pb2.ConfirmBookingResponse(
                saga_id=saga_id, booking_reference=b.reference, status=b.status
            )

        return await self.participant.do(saga_id, request, apply)

    async def Compensate(
        self, request: booking_pb2.CancelBookingRequest, context: grpc.aio.ServicerContext
    ) -> booking_pb2.CancelBookingResponse:
        def undo(conn: Conn, saga_id: str) -> booking_pb2.CancelBookingResponse:
            b = bookings.cancel(conn, saga_id)
            return booking_pb2.CancelBookingResponse(
                saga_id=saga_id, booking_reference=b.reference, status=b.status
            )

        return await self.compensate_saga(request.saga_id, undo)

    async def GetBooking(
        self, request: booking_pb2.GetBookingRequest, context: grpc.aio.ServicerContext
    ) -> booking_pb2.Booking:
        ref = validate.text("booking_reference", request.booking_reference, required=False)
        saga_id = validate.text("saga_id", request.saga_id, required=False)
        if not ref and not saga_id:
            raise InvalidArgument("booking_reference", "give a booking_reference or a saga_id")
        b = await self.db.read(lambda conn: bookings.find(conn, ref.upper(), saga_id))
        return _booking(b)

    async def GetBookingRecords(
        self, request: common_pb2.SagaRecordsRequest, context: grpc.aio.ServicerContext
    ) -> booking_pb2.BookingRecords:
        def read(
            conn: Conn, saga_id: str, barrier: list[common_pb2.BarrierMark]
        ) -> booking_pb2.BookingRecords:
            return booking_pb2.BookingRecords(
                saga_id=saga_id,
                bookings=[_booking(b) for b in bookings.of_saga(conn, saga_id)],
                barrier=barrier,
            )

        return await self.saga_records(request.saga_id, read)
