"""The API's error answers: a bad field (400, named), a gRPC error mapped to its HTTP status."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from dashboard.models import ApiErrorOut
from dashboard.peers import ApiError
from dashboard.validation import FieldError

log = logging.getLogger("dashboard")

# The error answers every API route documents (OpenAPI `responses`).
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ApiErrorOut, "description": "a bad field (named in `field`)"},
    404: {"model": ApiErrorOut, "description": "no such saga"},
    429: {
        "model": ApiErrorOut,
        "description": "the orchestrator is busy: retry later (Retry-After says when)",
    },
    503: {"model": ApiErrorOut, "description": "a gRPC service is unreachable"},
}


def _loc_to_field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [p for p in loc if p not in ("body", "query", "path")]
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        elif isinstance(p, str) and p.startswith(("str", "FaultIn")):  # union branch names
            continue
        else:
            out += f".{p}" if out else str(p)
    return out or "body"


def validation_error_body(exc: RequestValidationError) -> dict[str, Any]:
    errors = []
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        kind = err.get("type", "")
        if kind == "json_invalid":
            field = "body"
            message = f"invalid JSON: {err.get('ctx', {}).get('error', err.get('msg'))}"
        elif loc == ("body",):
            field, message = "body", "must be a JSON object (Content-Type: application/json)"
        elif kind == "extra_forbidden":
            field, message = _loc_to_field(loc), "is not a known field"
        else:
            field = _loc_to_field(loc)
            message = str(err.get("msg", "is invalid")).removeprefix("Value error, ")
            if message.startswith("Input should be") or message.startswith("Field required"):
                message = message[0].lower() + message[1:]
        errors.append({"field": field, "message": message})
    first = errors[0] if errors else {"field": "body", "message": "is invalid"}
    return {
        "error": f"{first['field']}: {first['message']}",
        "field": first["field"],
        "errors": errors,
    }


def add_handlers(app: FastAPI) -> None:
    """Answer a request the models refuse, a FieldError and an ApiError as JSON."""

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        body = validation_error_body(exc)
        log.info("rejected request: %s", body["error"])
        return JSONResponse(body, status_code=400)

    @app.exception_handler(FieldError)
    async def _field(_: Request, exc: FieldError) -> JSONResponse:
        log.info("rejected request: %s", exc)
        return JSONResponse({"error": str(exc), "field": exc.field}, status_code=400)

    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers())
