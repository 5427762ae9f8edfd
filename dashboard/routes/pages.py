"""The HTML pages, the favicon and /healthz."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse

from dashboard.state import Ctx

STATIC = Path(__file__).resolve().parent.parent / "static"
# /saga/test is the test page's first address (the seed's): links to it keep working.
PAGES = {
    "/": "test.html",
    "/test": "test.html",
    "/saga/test": "test.html",
    "/sagas": "sagas.html",
    "/flights": "flights.html",
}

router = APIRouter()

for route, page in PAGES.items():

    def serve(page: str = page) -> FileResponse:
        return FileResponse(STATIC / page, headers={"Cache-Control": "no-cache"})

    router.add_api_route(route, serve, methods=["GET"], include_in_schema=False)


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> FileResponse:
    """Browsers ask for /favicon.ico whatever the pages link: the same SVG icon."""
    return FileResponse(
        STATIC / "favicon.svg",
        media_type="image/svg+xml",
        headers={"Cache-Control": "public, max-age=86400"},
    )


@router.get("/healthz", tags=["health"])
async def healthz(d: Ctx) -> dict[str, Any]:
    """Liveness of the dashboard (always 200), with each peer's gRPC health status."""
    peers = d.config.peers
    statuses = await asyncio.gather(*(d.peers.health(peer) for peer in peers))
    return {
        "status": "ok",
        "peers": {
            peer.name: {"addr": peer.addr, "env": peer.env_var, "status": s}
            for peer, s in zip(peers, statuses, strict=True)
        },
    }
