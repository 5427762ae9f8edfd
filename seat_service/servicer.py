"""SeatService: protobuf <-> the inventory and schedule modules; no business rules here."""

from __future__ import annotations

import grpc

from flightsaga.v1 import common_pb2, seat_pb2, seat_pb2_grpc
from flightsaga.v1.common_pb2 import CabinClass
from sagakit import validate
from sagakit.db import Conn
from sagakit.errors import NotFound
from sagakit.participant import ParticipantServicer
from sagakit.records import Effect
from sagakit.timestamps import to_ts
from sagas.booking import RESERVE_SEAT, canonical_step
from seat_service import inventory, schedule, search
from seat_service.schedule import CURRENCY, Flight


def _leg(offer: search.Offer) -> seat_pb2.Leg:
    f = offer.flight
    leg = seat_pb2.Leg(
        flight_id=f.flight_id,
        flight_number=f.number,
        origin=f.route.origin,
        destination=f.route.destination,
        aircraft=f.aircraft.name,
        fare_cents=offer.fare_cents,
        seats_available=offer.seats_available,
        cabin_class=offer.cabin,
    )
    leg.departure.FromDatetime(f.departure)
    leg.arrival.FromDatetime(f.arrival)
    return leg


class SeatServicer(
    ParticipantServicer[seat_pb2.ReserveSeatsResponse, seat_pb2.ReleaseSeatsResponse],
    seat_pb2_grpc.SeatServiceServicer,
):
    STEP = RESERVE_SEAT
    canonical_step = staticmethod(canonical_step)
    SERVICE = seat_pb2.DESCRIPTOR.services_by_name["SeatService"]

    @staticmethod
    def effects(conn: Conn, saga_id: str) -> list[Effect]:
        out = []
        for h in inventory.holds_of(conn, saga_id):
            seat = {"flight_id": h.flight_id, "seat": h.seat, "passenger_index": h.passenger_index}
            out.append(Effect("seat_hold", h.held_at, seat | {"cabin": int(h.cabin)}))
            if h.released_at:
                out.append(Effect("seat_release", h.released_at, seat))
        return out

    async def Do(
        self, request: seat_pb2.ReserveSeatsRequest, context: grpc.aio.ServicerContext
    ) -> seat_pb2.ReserveSeatsResponse:
        saga_id = validate.saga_id(request.saga_id)
        for i, p in enumerate(request.passengers):
            validate.passenger(f"passengers[{i}]", p.first_name, p.last_name, p.date_of_birth)
        req = inventory.reservation(
            list(request.flight_ids),
            request.cabin_class,
            len(request.passengers),
            [(s.flight_id, s.passenger_index, s.seat) for s in request.seat_selections],
        )

        def apply(conn: Conn) -> seat_pb2.ReserveSeatsResponse:
            held = inventory.hold(conn, saga_id, req)
            legs = search.offers(conn, list(req.flights), req.cabin)
            return seat_pb2.ReserveSeatsResponse(
                saga_id=saga_id,
                seats=[
                    common_pb2.SeatAssignment(
                        flight_id=a.flight_id, passenger_index=a.passenger_index, seat=a.seat
                    )
                    for a in held.seats
                ],
                fare_cents=held.fare_cents,
                currency=CURRENCY,
                legs=[_leg(o) for o in legs],
            )

        return await self.participant.do(saga_id, request, apply)

    async def Compensate(
        self, request: seat_pb2.ReleaseSeatsRequest, context: grpc.aio.ServicerContext
    ) -> seat_pb2.ReleaseSeatsResponse:
        return await self.compensate_saga(
            request.saga_id,
            lambda conn, saga_id: seat_pb2.ReleaseSeatsResponse(
                saga_id=saga_id, seats_released=inventory.release(conn, saga_id)
            ),
        )

    async def SearchFlights(
        self, request: seat_pb2.SearchFlightsRequest, context: grpc.aio.ServicerContext
    ) -> seat_pb2.SearchFlightsResponse:
        q = search.query(
            request.origin,
            request.destination,
            request.date,
            request.return_date,
            request.cabin_class,
            request.passengers,
        )
        outbound, inbound = await self.db.read(lambda conn: search.search(conn, q))
        return seat_pb2.SearchFlightsResponse(
            outbound=[_leg(o) for o in outbound], inbound=[_leg(o) for o in inbound]
        )

    async def GetFlight(
        self, request: seat_pb2.GetFlightRequest, context: grpc.aio.ServicerContext
    ) -> seat_pb2.FlightDetails:
        fid = validate.text("flight_id", request.flight_id).upper()
        flight = schedule.find(fid)
        if flight is None:
            raise NotFound(f"flight_id: no flight {fid!r} on the schedule")
        return await self.db.read(lambda conn: self._details(conn, flight))

    @staticmethod
    def _details(conn: Conn, flight: Flight) -> seat_pb2.FlightDetails:
        holders = inventory.active_holders(conn, flight.flight_id)
        (economy,) = search.offers(conn, [flight], CabinClass.ECONOMY)
        cabins = [
            seat_pb2.CabinSeatMap(
                cabin_class=cabin,
                fare_cents=flight.route.fare_cents(cabin),
                seats=[
                    seat_pb2.SeatState(seat=s, held=s in holders, saga_id=holders.get(s, ""))
                    for s in flight.aircraft.seats(cabin)
                ],
            )
            for cabin in schedule.CABINS
        ]
        return seat_pb2.FlightDetails(flight=_leg(economy), cabins=cabins)

    async def GetHolds(
        self, request: common_pb2.SagaRecordsRequest, context: grpc.aio.ServicerContext
    ) -> seat_pb2.SeatHolds:
        def read(
            conn: Conn, saga_id: str, barrier: list[common_pb2.BarrierMark]
        ) -> seat_pb2.SeatHolds:
            reply = seat_pb2.SeatHolds(saga_id=saga_id, barrier=barrier)
            for h in inventory.holds_of(conn, saga_id):
                hold = reply.holds.add(
                    flight_id=h.flight_id,
                    seat=h.seat,
                    passenger_index=h.passenger_index,
                    cabin_class=h.cabin,
                )
                if (ts := to_ts(h.held_at)) is not None:
                    hold.held_at.CopyFrom(ts)
                if (ts := to_ts(h.released_at)) is not None:
                    hold.released_at.CopyFrom(ts)
            return reply

        return await self.saga_records(request.saga_id, read)
