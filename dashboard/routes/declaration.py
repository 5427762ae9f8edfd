"""The booking saga's steps as the pages show them, from its declaration (sagas.booking): one
JSON document for API clients, and the same as a script the pages load before common.js."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from sagas.booking import BOOK_FLIGHT

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


_SCRIPT = (
    "// The booking saga's steps, from its declaration (sagas/booking/declaration.py).\n"
    f"const STEPS = {json.dumps(step_views(), indent=2)};\n"
)


@router.get("/saga/booking.js", include_in_schema=False)
def steps_script() -> Response:
    return Response(_SCRIPT, media_type="text/javascript", headers={"Cache-Control": "no-cache"})
