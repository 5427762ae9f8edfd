"""The trip saga (declaration): book a hotel room (hotel_service, step `book_room`), then rent
a car in the same city for the same nights (car_service, step `rent_car`).

Each participant runs as `python -m examples.trip.hotel_service` (port 50055) and
`python -m examples.trip.car_service` (port 50056); trip.proto is their contract.
"""

from examples.trip.declaration import (
    ALIASES,
    BOOK_ROOM,
    CAR,
    CAR_CLASSES,
    HOTEL,
    NAME,
    PARTICIPANTS,
    RENT_CAR,
    STEP_ORDER,
    TRIP,
    car_request,
    check,
    room_request,
    summarize,
)

# What SAGAS= registers (sagas.registry): this module's saga, every version still served.
SAGA = TRIP

__all__ = [
    "ALIASES",
    "BOOK_ROOM",
    "CAR",
    "CAR_CLASSES",
    "HOTEL",
    "NAME",
    "PARTICIPANTS",
    "RENT_CAR",
    "SAGA",
    "STEP_ORDER",
    "TRIP",
    "car_request",
    "check",
    "room_request",
    "summarize",
]
