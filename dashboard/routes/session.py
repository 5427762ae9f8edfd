"""Signing in and out (a token kept in a cookie), and what the pages show about the deployment."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse

from dashboard.models import SessionIn
from dashboard.security import COOKIE, user_token
from dashboard.state import Ctx
from sagas.booking import LATEST as BOOK_FLIGHT  # the version new bookings run

router = APIRouter()


@router.post("/api/session", tags=["auth"])
async def sign_in(d: Ctx, request: Request, body: Annotated[SessionIn, Body()]) -> JSONResponse:
    """Sign in with a FlightSaga token (auth on): kept in an HttpOnly, SameSite=Strict
    cookie that the pages' calls (and their event streams) then carry."""
    who = d.config.tokens.check(body.token) if d.config.tokens is not None else None
    if d.config.tokens is not None and who is None:
        return JSONResponse({"error": "token: unknown token", "field": "token"}, 401)
    reply = JSONResponse(
        {"name": who.name if who else "", "roles": sorted(who.roles) if who else []}
    )
    reply.set_cookie(
        COOKIE,
        body.token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return reply


@router.delete("/api/session", tags=["auth"])
async def sign_out() -> JSONResponse:
    reply = JSONResponse({"signed_out": True})
    reply.delete_cookie(COOKIE, path="/")
    return reply


@router.get("/api/config", tags=["health"])
async def client_config(d: Ctx) -> dict[str, Any]:
    """What the pages show about the deployment: the peers' addresses, whether a token is
    needed (`auth`), and the roles of the signed-in user's token (`roles`; null when auth is
    off or nobody is signed in)."""
    token = user_token.get()
    who = d.config.tokens.check(token) if d.config.tokens is not None and token else None
    return {
        "auth": d.config.tokens is not None,
        "roles": sorted(who.roles) if who else None,
        "peers": {peer.name: {"addr": peer.addr, "env": peer.env_var} for peer in d.config.peers},
        "steps": list(BOOK_FLIGHT.step_names),
    }
