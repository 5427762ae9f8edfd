"""The sagas' steps as the pages show them.

Every served saga, every version, from the orchestrator (ListSagaTypes): /api/saga-types. The
booking saga's, from its declaration (sagas.booking): one JSON document for API clients, and the
same as a script the pages load before common.js.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from dashboard.errors import ERRORS
from dashboard.jsonview import to_dict
from dashboard.state import Ctx, saga_types
from sagas.booking import LATEST as BOOK_FLIGHT  # the version new bookings run

router = APIRouter()


def step_views() -> list[dict[str, Any]]:
    """Each step: wire name, participant, and its texts (title, card, compensation)."""
    return [
        {
            "name": s.name,
            "participant": s.participant.name,
            "aliases": list(s.aliases),
            "label": s.title,
            "short": s.short,
            "undo": s.undo,
        }
        for s in BOOK_FLIGHT.steps
    ]


@router.get("/api/saga/booking", tags=["health"])
async def booking_saga() -> dict[str, Any]:
    """The booking saga's declaration: its name, version and steps in order."""
    return {"name": BOOK_FLIGHT.name, "version": BOOK_FLIGHT.version, "steps": step_views()}


@router.get("/api/saga-types", tags=["sagas"], responses=ERRORS)
async def served_saga_types(d: Ctx) -> dict[str, Any]:
    """Every saga the orchestrator serves (ListSagaTypes), by name then version: its title,
    input (type and fields) and steps (name, title, short, undo, aliases, participant). A
    saga's `saga` and `saga_version` pick its entry."""
    return to_dict(await saga_types(d))


_SCRIPT = (
    "// The booking saga's steps, from its declaration (sagas/booking/declaration.py).\n"
    f"const BOOKING_SAGA = {json.dumps(BOOK_FLIGHT.name)};\n"
    f"const STEPS = {json.dumps(step_views(), indent=2)};\n"
)


@router.get("/saga/booking.js", include_in_schema=False)
def steps_script() -> Response:
    return Response(_SCRIPT, media_type="text/javascript", headers={"Cache-Control": "no-cache"})
