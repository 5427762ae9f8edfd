"""The HTML pages, the favicon and /healthz."""

from __future__ import annotations

import asyncio
from functools import cache
from pathlib import Path
from string import Template
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse

from dashboard.state import Ctx

STATIC = Path(__file__).resolve().parent.parent / "static"
# Each page's <main> is static/<page>.html, inside the frame every page shares (head, nav);
# its script is static/<page>.js.
TITLES = {
    "test": "SAGA test",
    "sagas": "Sagas",
    "flights": "Flights",
    "bulk": "Bulk resume or cancel",
}
# /saga/test is the test page's first address (the seed's): links to it keep working.
PAGES = {
    "/": "test",
    "/test": "test",
    "/saga/test": "test",
    "/sagas": "sagas",
    "/flights": "flights",
    "/sagas/bulk": "bulk",
}

router = APIRouter()


@cache
def html(page: str) -> str:
    """The whole page: its <main> in the shared frame (read once)."""
    frame = Template((STATIC / "frame.html").read_text(encoding="utf-8"))
    main = (STATIC / f"{page}.html").read_text(encoding="utf-8")
    return frame.substitute(title=TITLES[page], script=f"{page}.js", main=main)


for route, page in PAGES.items():

    def serve(page: str = page) -> HTMLResponse:
        return HTMLResponse(html(page), headers={"Cache-Control": "no-cache"})

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
