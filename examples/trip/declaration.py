"""The trip saga: book_room (hotel_service) -> rent_car (car_service).

The car is rented in the room's city for as many days as the stay has nights: the car step
reads the room's reply (`keep=("nights", "city")`), as any later step may read an earlier one.
Each compensation is its participant's `Compensate(saga_id)`: cancel the room, return the car.
Prices are in US cents; a finished trip reports its two references and the total.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from examples.trip import trip_pb2, trip_pb2_grpc
from sagakit import validate
from sagakit.errors import InvalidArgument
from sagas.declare import Participant, SagaDeclaration, Sample, Step

NAME = "trip"
BOOK_ROOM = "book_room"
RENT_CAR = "rent_car"
CAR_CLASSES = ("economy", "compact", "suv")  # "" (no preference) is economy
MAX_GUEST = 100
MAX_NIGHTS = 30

# ---- the participants ---------------------------------------------------------------------

HOTEL = Participant(
    "hotel", "examples.trip.hotel_service", 5, "HOTEL_SERVICE_ADDR", "hotel service",
    trip_pb2_grpc.HotelServiceStub,
    trip_pb2.BookRoomRequest, trip_pb2.BookRoomResponse,
    trip_pb2.CancelRoomRequest, trip_pb2.CancelRoomResponse,
)  # fmt: skip
CAR = Participant(
    "car", "examples.trip.car_service", 6, "CAR_SERVICE_ADDR", "car rental service",
    trip_pb2_grpc.CarServiceStub,
    trip_pb2.RentCarRequest, trip_pb2.RentCarResponse,
    trip_pb2.ReturnCarRequest, trip_pb2.ReturnCarResponse,
)  # fmt: skip

# ---- the input's rules (the participants check their own domain: cities, rooms, cars) ------


def check(req: trip_pb2.TripRequest, today: date | None = None) -> None:
    """Refuse a trip that cannot be right before a saga exists; each error names the field.
    City and car class are accepted in any case (the participants uppercase the city and
    lowercase the class); whether the city has a hotel is the hotel service's answer."""
    validate.text("input.guest", req.guest, MAX_GUEST)
    if not re.fullmatch(r"[A-Za-z]{3}", req.city.strip()):
        raise InvalidArgument("input.city", f"must be 3 letters, e.g. LIS (got {req.city[:20]!r})")
    check_in = validate.iso_date("input.check_in", req.check_in)
    if date.fromisoformat(check_in) < (today or datetime.now(UTC).date()):
        raise InvalidArgument("input.check_in", f"is in the past ({check_in})")
    if not 1 <= req.nights <= MAX_NIGHTS:
        raise InvalidArgument("input.nights", f"must be 1..{MAX_NIGHTS} (got {req.nights})")
    if req.car_class.strip().lower() not in ("", *CAR_CLASSES):
        raise InvalidArgument(
            "input.car_class", f"must be one of {', '.join(CAR_CLASSES)} (got {req.car_class!r})"
        )


# ---- each step's Do request, from the trip and the earlier step's reply ---------------------


def room_request(saga_id: str, req: trip_pb2.TripRequest) -> trip_pb2.BookRoomRequest:
    return trip_pb2.BookRoomRequest(
        saga_id=saga_id, guest=req.guest, city=req.city, check_in=req.check_in, nights=req.nights
    )


def car_request(
    saga_id: str, req: trip_pb2.TripRequest, room: trip_pb2.BookRoomResponse
) -> trip_pb2.RentCarRequest:
    return trip_pb2.RentCarRequest(
        saga_id=saga_id,
        driver=req.guest,
        city=room.city,  # as the hotel spelled it
        pick_up=req.check_in,
        days=room.nights,
        car_class=req.car_class,
    )


def summarize(results: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    room, car = results.get(BOOK_ROOM, {}), results.get(RENT_CAR, {})
    return {
        "reservation_id": room.get("reservation_id", ""),
        "rental_id": car.get("rental_id", ""),
        "total_cents": int(room.get("price_cents", 0) or 0) + int(car.get("price_cents", 0) or 0),
    }


def sample(variant: int) -> Sample:
    """A stay in Lisbon a month ahead, with an economy car; each variant stays a night longer
    (another body at both steps)."""
    check_in = f"{datetime.now(UTC).date() + timedelta(days=30):%Y-%m-%d}"
    nights = 2 + variant
    req = trip_pb2.TripRequest(
        guest="Conform Check", city="LIS", check_in=check_in, nights=nights, car_class="economy"
    )
    return Sample(req, {BOOK_ROOM: trip_pb2.BookRoomResponse(city="LIS", nights=nights)})


# ---- THE trip saga ---------------------------------------------------------------------------

TRIP = SagaDeclaration(
    NAME,
    trip_pb2.TripRequest,
    steps=(
        Step(BOOK_ROOM, HOTEL, room_request, keep=("nights", "city"), aliases=("hotel", "room"),
             title="Book Room", short="Book room", undo="cancel the room"),
        Step(RENT_CAR, CAR, car_request, aliases=("car",),
             title="Rent Car", short="Rent car", undo="return the car"),
    ),
    summarize=summarize,
    check=check,
    title="Book a trip (hotel + car)",
    sample=sample,
)  # fmt: skip

PARTICIPANTS = tuple(step.participant for step in TRIP.steps)
STEP_ORDER = TRIP.step_names
ALIASES = TRIP.aliases
