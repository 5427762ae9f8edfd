"""Protobuf messages as the JSON the dashboard's API answers with. No I/O here."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from google.protobuf.message import Message

from dashboard.loglines import event_log_line
from flightsaga.v1 import orchestrator_pb2, seat_pb2
from sagakit.plainjson import plain
from sagas.booking import BOOK_FLIGHT
from sagas.booking.airports import airport_time

TERMINAL = frozenset({"COMPLETED", "COMPENSATED", "FAILED"})


def terminal(saga: orchestrator_pb2.Saga) -> bool:
    """Whether the saga has ended (COMPLETED, COMPENSATED or FAILED)."""
    return orchestrator_pb2.SagaStatus.Name(saga.status) in TERMINAL


def is_booking(saga: orchestrator_pb2.Saga) -> bool:
    """A booking saga (an orchestrator from before StartSaga leaves `saga` empty); any other
    saga shows its `input` and `facts` where a booking shows its request and reference."""
    return saga.saga in ("", BOOK_FLIGHT.name)


def flights_dict(reply: seat_pb2.SearchFlightsResponse) -> dict[str, Any]:
    """Search results as JSON, each leg with its departure and arrival in the local time of
    its airport, with the zone (`08:00 EST`), as the CLI shows them: a browser's own zone (and
    seconds) would say nothing about when the flight leaves. `departed`: it has left."""
    out = to_dict(reply)
    now = datetime.now(UTC)
    for key in ("outbound", "inbound"):
        for leg, shown in zip(getattr(reply, key), out.get(key, []), strict=True):
            departure = leg.departure.ToDatetime(tzinfo=UTC)
            arrival = leg.arrival.ToDatetime(tzinfo=UTC)
            shown["departure_local"] = airport_time(departure, leg.origin)
            # A departed flight is listed (a search of today) but cannot be booked.
            shown["departed"] = departure <= now
            shown["arrival_local"] = airport_time(
                arrival, leg.destination, with_date=arrival.date() != departure.date()
            )
    out["count"] = len(reply.outbound) + len(reply.inbound)
    return out


def to_dict(message: Message) -> dict[str, Any]:
    """A message as JSON: proto field names, enums by name, every field present, every number
    a number (sagakit.plainjson)."""
    return plain(message, every_field=True)


def event_dict(event: orchestrator_pb2.SagaEvent) -> dict[str, Any]:
    out = to_dict(event)
    out["log"] = event_log_line(event)
    return out
