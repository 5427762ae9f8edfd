"""The flights API: search the schedule."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from dashboard.errors import ERRORS
from dashboard.jsonview import flights_dict
from dashboard.state import Ctx
from dashboard.validation import search_request

router = APIRouter()


@router.get("/api/flights", tags=["flights"], responses=ERRORS)
async def flights(
    d: Ctx,
    origin: str,
    destination: str,
    date: str,
    return_date: str = "",
    cabin_class: str = "",
    passengers: Annotated[int, Query(ge=1, le=9)] = 1,
) -> dict[str, Any]:
    """Search the schedule (one-way, or round trip with return_date). An empty result is a
    normal answer: `count` is 0."""
    p = d.peers
    req = search_request(origin, destination, date, return_date, cabin_class, passengers)
    reply = await p.call(d.config.seat, p.seat.SearchFlights, req)
    return flights_dict(reply)
