"""The dashboard's HTTP app: JSON API over the gRPC services, plus the static pages.

The app is only a client of the gRPC APIs: it keeps no state of its own besides its channels.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import grpc
from fastapi import Body, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles

from dashboard.booking import BookingStarter
from dashboard.config import DashboardConfig
from dashboard.models import ApiErrorOut, BookingIn, BookingStarted, ResumeIn, SessionIn
from dashboard.peers import ApiError, Peers, map_rpc_error
from dashboard.security import COOKIE, SecurityMiddleware
from dashboard.translate import (
    TERMINAL,
    FieldError,
    booking_plan,
    booking_proof,
    event_dict,
    event_log_line,
    flights_dict,
    loyalty_proof,
    payment_proof,
    search_request,
    seat_proof,
    status_filter,
    to_dict,
)
from flightsaga.v1 import common_pb2, logs_pb2, orchestrator_pb2
from sagakit import context

log = logging.getLogger("dashboard")

STATIC = Path(__file__).parent / "static"
PAGES = {"/": "test.html", "/test": "test.html", "/sagas": "sagas.html", "/flights": "flights.html"}
SSE_PING = 15.0
LOG_IDLE = 0.3

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ApiErrorOut, "description": "a bad field (named in `field`)"},
    404: {"model": ApiErrorOut, "description": "no such saga"},
    503: {"model": ApiErrorOut, "description": "a gRPC service is unreachable"},
}


class CorrelationMiddleware:
    """Every request gets a correlation id (X-Correlation-ID or new), logged and echoed back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        raw = headers.get(b"x-correlation-id", b"").decode("latin-1").strip()
        cid = raw[:64] if raw and raw.isprintable() else context.new_correlation_id()
        context.correlation_id.set(cid)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-correlation-id", cid.encode())]
            await send(message)

        await self.app(scope, receive, send_with_id)


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


def create_app(config: DashboardConfig) -> FastAPI:
    """The dashboard app; its lifespan opens one gRPC channel per peer and closes them."""

    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        peers = Peers.open(config)
        state["peers"] = peers
        state["starter"] = BookingStarter(peers)
        log.info(
            "dashboard ready; orchestrator at %s (ORCHESTRATOR_ADDR)", config.orchestrator.addr
        )
        try:
            yield
        finally:
            await state["starter"].close()
            await peers.close()
            log.info("dashboard stopped; channels closed")

    app = FastAPI(
        title="FlightSaga dashboard",
        version="0.1.0",
        description="Web UI and JSON API over the FlightSaga gRPC services (a client only).",
        lifespan=lifespan,
        # Swagger UI and ReDoc load their assets from a CDN; the dashboard serves nothing from
        # outside, so only the schema itself is served (/openapi.json).
        docs_url=None,
        redoc_url=None,
    )
    app.add_middleware(SecurityMiddleware, tokens=config.tokens)
    app.add_middleware(CorrelationMiddleware)

    def peers() -> Peers:
        p: Peers = state["peers"]
        return p

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
        return JSONResponse(exc.body(), status_code=exc.status)

    # ------------------------------------------------------------------ pages and health

    for route, page in PAGES.items():

        def serve(page: str = page) -> FileResponse:
            return FileResponse(STATIC / page, headers={"Cache-Control": "no-cache"})

        app.add_api_route(route, serve, methods=["GET"], include_in_schema=False)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        """Browsers ask for /favicon.ico whatever the pages link: the same SVG icon."""
        return FileResponse(
            STATIC / "favicon.svg",
            media_type="image/svg+xml",
            headers={"Cache-Control": "public, max-age=86400"},
        )

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, Any]:
        """Liveness of the dashboard (always 200), with each peer's gRPC health status."""
        p = peers()
        statuses = await asyncio.gather(*(p.health(peer) for peer in config.peers))
        return {
            "status": "ok",
            "peers": {
                peer.name: {"addr": peer.addr, "env": peer.env_var, "status": s}
                for peer, s in zip(config.peers, statuses, strict=True)
            },
        }

    # ------------------------------------------------------------------ sagas

    async def get_saga(saga_id: str) -> orchestrator_pb2.Saga:
        p = peers()
        return await p.call(
            config.orchestrator,
            p.orchestrator.GetSaga,
            orchestrator_pb2.GetSagaRequest(saga_id=saga_id),
        )

    @app.post("/api/bookings", status_code=202, tags=["sagas"], responses=ERRORS)
    async def create_booking(body: BookingIn) -> BookingStarted:
        """Start a booking saga; answers at once with its id (202). `fail_at` becomes x-fail-at,
        `faults` x-fault. The saga's progress is at /api/sagas/{id}/events."""
        plan = booking_plan(body, context.correlation_id.get())
        saga = await state["starter"].start(plan)
        sid = saga.saga_id
        return BookingStarted(
            saga_id=sid,
            correlation_id=saga.correlation_id or plan.correlation_id,
            idempotency_key=plan.idempotency_key,
            status=orchestrator_pb2.SagaStatus.Name(saga.status),
            replayed=saga.replayed,
            links={
                "self": f"/api/sagas/{sid}",
                "events": f"/api/sagas/{sid}/events",
                "proof": f"/api/sagas/{sid}/proof",
                "log": f"/api/sagas/{sid}/log",
                "page": f"/test?saga={sid}",
            },
        )

    @app.get("/api/sagas", tags=["sagas"], responses=ERRORS)
    async def list_sagas(
        status: Annotated[str | None, Query(description="RUNNING, FAILED, ... or ALL")] = None,
        page_size: Annotated[int, Query(ge=1, le=200)] = 20,
        page_token: Annotated[str, Query(max_length=200)] = "",
    ) -> dict[str, Any]:
        """Sagas, newest first, optionally filtered by status, paged by `next_page_token`."""
        p = peers()
        req = orchestrator_pb2.ListSagasRequest(
            status=status_filter(status),  # type: ignore[arg-type]
            page_size=page_size,
            page_token=page_token,
        )
        page = await p.call(config.orchestrator, p.orchestrator.ListSagas, req)
        return to_dict(page)

    @app.get("/api/sagas/{saga_id}", tags=["sagas"], responses=ERRORS)
    async def saga(saga_id: str) -> dict[str, Any]:
        """One saga: its steps (state, attempts, duration, results) and compensations."""
        return to_dict(await get_saga(saga_id))

    @app.post("/api/sagas/{saga_id}/resume", tags=["sagas"], responses=ERRORS)
    async def resume(saga_id: str, body: Annotated[ResumeIn | None, Body()] = None) -> JSONResponse:
        """Operator retry of a FAILED (or stuck) saga; `clear_faults` drops its fault plan.
        200 with the record when the resumed saga finished in time, else 202 with its state."""
        p = peers()
        req = orchestrator_pb2.ResumeSagaRequest(
            saga_id=saga_id, clear_faults=bool(body and body.clear_faults)
        )
        log.warning("[SAGA] operator resume of %s (clear_faults=%s)", saga_id, req.clear_faults)
        try:
            saga = await p.call(
                config.orchestrator, p.orchestrator.ResumeSaga, req, timeout=config.resume_timeout
            )
        except ApiError as exc:
            if exc.code != "DEADLINE_EXCEEDED":
                raise
            return JSONResponse(to_dict(await get_saga(saga_id)), status_code=202)
        code = 200 if orchestrator_pb2.SagaStatus.Name(saga.status) in TERMINAL else 202
        return JSONResponse(to_dict(saga), status_code=code)

    @app.get("/api/stats", tags=["sagas"], responses=ERRORS)
    async def stats() -> dict[str, Any]:
        """Counts by saga state and by step state."""
        p = peers()
        reply = await p.call(
            config.orchestrator, p.orchestrator.GetStats, orchestrator_pb2.GetStatsRequest()
        )
        return to_dict(reply)

    async def saga_events(saga_id: str, idle: float | None) -> list[orchestrator_pb2.SagaEvent]:
        """The saga's events so far (the stream ends at a terminal state, or after `idle` s)."""
        p = peers()
        call = p.orchestrator.WatchSaga(
            orchestrator_pb2.WatchSagaRequest(saga_id=saga_id),
            timeout=config.rpc_timeout,
            metadata=p.metadata(),
        )
        events: list[orchestrator_pb2.SagaEvent] = []
        try:
            while True:
                item = await asyncio.wait_for(call.read(), idle) if idle else await call.read()
                if item is grpc.aio.EOF:
                    break
                events.append(item)
        except TimeoutError:
            pass
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.DEADLINE_EXCEEDED or not events:
                raise map_rpc_error(config.orchestrator, exc) from None
        finally:
            call.cancel()
        return events

    @app.get("/api/sagas/{saga_id}/log", tags=["sagas"], responses=ERRORS)
    async def saga_log(saga_id: str) -> dict[str, Any]:
        """The saga's log lines in time order: one per event of its timeline (the orchestrator,
        with the original markers), and the lines each participant logged for it (its Logs
        RPC: recent lines, kept in memory). A participant that does not answer is named in
        `missing` and its lines are left out."""
        saga = await get_saga(saga_id)
        terminal = orchestrator_pb2.SagaStatus.Name(saga.status) in TERMINAL
        events = await saga_events(saga_id, None if terminal else LOG_IDLE)
        lines = [(e.at.ToNanoseconds(), event_log_line(e)) for e in events]
        p = peers()
        participants = (config.seat, config.loyalty, config.payment, config.booking)
        req = logs_pb2.GetSagaLogsRequest(saga_id=saga_id)
        replies = await asyncio.gather(
            *(p.call(peer, p.logs(peer).GetSagaLogs, req, timeout=2.0) for peer in participants),
            return_exceptions=True,
        )
        missing = []
        for peer, reply in zip(participants, replies, strict=True):
            if isinstance(reply, BaseException):
                missing.append(peer.name)
                continue
            lines += [(ln.at.ToNanoseconds(), ln.text) for ln in reply.lines]
        lines.sort(key=lambda pair: pair[0])  # stable: a service's own order is kept
        return {
            "saga_id": saga_id,
            "correlation_id": saga.correlation_id,
            "trace_id": saga.trace_id,
            "lines": [text for _, text in lines],
            "missing": missing,
        }

    @app.get(
        "/api/sagas/{saga_id}/events",
        tags=["sagas"],
        responses={**ERRORS, 200: {"content": {"text/event-stream": {}}}},
        response_class=StreamingResponse,
    )
    async def events(
        saga_id: str, last_event_id: Annotated[str | None, Header()] = None
    ) -> StreamingResponse:
        """Server-sent events from WatchSaga: `saga_event` (one per event, with its log line),
        `saga` (the record after it), then `end` (the terminal record). Reconnects resume after
        Last-Event-ID."""
        first = await get_saga(saga_id)  # 404 / 503 before the stream starts
        after = int(last_event_id) if last_event_id and last_event_id.isdigit() else 0
        return StreamingResponse(
            _sse(saga_id, first, after),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    def _frame(event: str, data: Any, event_id: int | None = None) -> str:
        head = f"id: {event_id}\n" if event_id is not None else ""
        return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"

    async def _sse(saga_id: str, first: orchestrator_pb2.Saga, after: int) -> AsyncIterator[str]:
        p = peers()
        yield "retry: 2000\n\n"
        yield _frame("saga", to_dict(first))
        call = p.orchestrator.WatchSaga(
            orchestrator_pb2.WatchSagaRequest(saga_id=saga_id),
            timeout=config.watch_timeout,
            metadata=p.metadata(),
        )
        queue: asyncio.Queue[orchestrator_pb2.SagaEvent | BaseException | None] = asyncio.Queue()

        async def pump() -> None:
            try:
                async for item in call:
                    await queue.put(item)
                await queue.put(None)
            except BaseException as exc:  # handed to the consumer
                await queue.put(exc)

        reader = asyncio.create_task(pump())
        try:
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), SSE_PING)
                except TimeoutError:
                    yield ": ping\n\n"
                    continue
                if item is None:
                    saga = await get_saga(saga_id)
                    if orchestrator_pb2.SagaStatus.Name(saga.status) in TERMINAL:
                        yield _frame("end", to_dict(saga))
                    return  # not terminal (watch deadline): the browser reconnects
                if isinstance(item, BaseException):
                    err = (
                        map_rpc_error(config.orchestrator, item)
                        if isinstance(item, grpc.aio.AioRpcError)
                        else ApiError(502, f"watch failed: {item!r}")
                    )
                    yield _frame("api_error", err.body())
                    return
                if item.seq <= after:
                    continue
                yield _frame("saga_event", event_dict(item), item.seq)
                if queue.empty():  # a burst of events gets one fresh record
                    try:
                        yield _frame("saga", to_dict(await get_saga(saga_id)))
                    except ApiError as exc:
                        yield _frame("api_error", exc.body())
                        return
        finally:
            reader.cancel()
            call.cancel()

    @app.get("/api/sagas/{saga_id}/proof", tags=["sagas"], responses=ERRORS)
    async def proof(saga_id: str) -> dict[str, Any]:
        """The participants' own records of the saga: seat holds held/released, points
        movements, payment charge/refund and the booking's status."""
        saga = await get_saga(saga_id)
        p = peers()
        req = common_pb2.SagaRecordsRequest(saga_id=saga_id)
        results = await asyncio.gather(
            p.call(config.seat, p.seat.GetHolds, req),
            p.call(config.loyalty, p.loyalty.GetMovements, req),
            p.call(config.payment, p.payment.GetPayments, req),
            p.call(config.booking, p.booking.GetBookingRecords, req),
            return_exceptions=True,
        )
        out: dict[str, Any] = {
            "saga_id": saga_id,
            "status": orchestrator_pb2.SagaStatus.Name(saga.status),
        }
        names = ("seat", "loyalty", "payment", "booking")
        summarize: tuple[Callable[[Any], dict[str, Any]], ...] = (
            seat_proof,
            loyalty_proof,
            payment_proof,
            booking_proof,
        )
        for name, fn, result in zip(names, summarize, results, strict=True):
            if isinstance(result, ApiError):
                out[name] = {"state": "unknown", "error": result.message, "summary": result.message}
            elif isinstance(result, BaseException):
                raise result
            else:
                out[name] = fn(result)
        return out

    # ------------------------------------------------------------------ flights

    @app.get("/api/flights", tags=["flights"], responses=ERRORS)
    async def flights(
        origin: str,
        destination: str,
        date: str,
        return_date: str = "",
        cabin_class: str = "",
        passengers: Annotated[int, Query(ge=1, le=9)] = 1,
    ) -> dict[str, Any]:
        """Search the schedule (one-way, or round trip with return_date). An empty result is a
        normal answer: `count` is 0."""
        p = peers()
        req = search_request(origin, destination, date, return_date, cabin_class, passengers)
        reply = await p.call(config.seat, p.seat.SearchFlights, req)
        return flights_dict(reply)

    @app.post("/api/session", tags=["auth"])
    async def sign_in(request: Request, body: Annotated[SessionIn, Body()]) -> JSONResponse:
        """Sign in with a FlightSaga token (auth on): kept in an HttpOnly, SameSite=Strict
        cookie that the pages' calls (and their event streams) then carry."""
        who = config.tokens.check(body.token) if config.tokens is not None else None
        if config.tokens is not None and who is None:
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

    @app.delete("/api/session", tags=["auth"])
    async def sign_out() -> JSONResponse:
        reply = JSONResponse({"signed_out": True})
        reply.delete_cookie(COOKIE, path="/")
        return reply

    @app.get("/api/config", tags=["health"])
    async def client_config() -> dict[str, Any]:
        """What the pages show about the deployment: the peers' addresses, whether a token is
        needed (`auth`)."""
        return {
            "auth": config.tokens is not None,
            "peers": {peer.name: {"addr": peer.addr, "env": peer.env_var} for peer in config.peers},
            "steps": [
                "reserve_seat",
                "deduct_loyalty_points",
                "process_payment",
                "confirm_booking",
            ],
        }

    return app
