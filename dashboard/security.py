"""The dashboard's share of docs/security.md: who may use its API, and no cross-site writes.

The token is checked here, then forwarded to the orchestrator, which checks the role: the
dashboard gives nobody more than their own token does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit

from starlette.responses import JSONResponse

from sagakit.auth import Tokens

COOKIE = "flightsaga_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
OPEN_PATHS = frozenset({"/api/session", "/api/config", "/api/saga/booking"})

# The token of the request being served (a user's), forwarded to the orchestrator.
user_token: ContextVar[str] = ContextVar("user_token", default="")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers") or []}


def request_token(headers: dict[str, str]) -> str:
    """The bearer token of the Authorization header, else the session cookie's; or ''.

    With AUTH_TOKENS_FILE set, every /api/ call needs one: `Authorization: Bearer …`, or the
    cookie the page sets after asking the user (POST /api/session; HttpOnly, SameSite=Strict, so
    no script and no other site can use it)."""
    scheme, _, token = headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    for part in headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE and value:
            return value
    return ""


def cross_site_refusal(method: str, headers: dict[str, str]) -> JSONResponse | None:
    """The answer to a state-changing request that may come from another site, else None:
    403 for a foreign Origin; 400 for a body type an HTML form can send (the API's own answer
    to a body that is not JSON, given before any handler runs).

    Whatever the auth setting: a page elsewhere cannot book or resume through a user's browser."""
    if method in SAFE_METHODS:
        return None
    why = _foreign_origin(headers)
    if why:
        body = {"error": f"cross-site request refused: {why}", "field": "origin"}
        return JSONResponse(body, status_code=403)
    kind = headers.get("content-type", "").split(";")[0].strip().lower()
    if kind and kind != "application/json":
        message = "must be a JSON object (Content-Type: application/json)"
        return JSONResponse({"error": f"body: {message}", "field": "body"}, status_code=400)
    return None


def _foreign_origin(headers: dict[str, str]) -> str:
    origin = headers.get("origin", "").strip()
    if origin and origin != "null":
        if urlsplit(origin).netloc.lower() != headers.get("host", "").strip().lower():
            return f"Origin {origin} is not this dashboard"
    elif origin == "null":
        return "Origin null (a sandboxed or local page)"
    return ""


class SecurityMiddleware:
    """Refuse cross-site writes (always) and calls without a valid token (auth on)."""

    def __init__(self, app: ASGIApp, tokens: Tokens | None) -> None:
        self.app = app
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/api/"):
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        refusal = cross_site_refusal(scope.get("method", "GET"), headers)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        token = request_token(headers)
        if self.tokens is not None and path not in OPEN_PATHS:
            if not token or self.tokens.check(token) is None:
                body = {
                    "error": "authentication required: sign in with your FlightSaga token",
                    "field": "token",
                }
                await JSONResponse(body, status_code=401)(scope, receive, send)
                return
        user_token.set(token)
        await self.app(scope, receive, send)
