"""The sagas API: start a booking (or a saga of any served kind), read sagas (one, a page, the
counts), resume or cancel one, and follow one: its events (server-sent), its log lines and (a
booking's) the participants' proof of it."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Annotated, Any

import grpc
from fastapi import APIRouter, Body, Header
from fastapi.responses import JSONResponse, StreamingResponse

from dashboard.errors import ERRORS
from dashboard.jsonview import event_dict, is_booking, terminal, to_dict
from dashboard.loglines import event_log_line
from dashboard.models import BookingIn, BookingStarted, CancelIn, ResumeIn, SagaIn, SagaStarted
from dashboard.peers import ApiError, map_rpc_error
from dashboard.proof import booking_proof, loyalty_proof, payment_proof, seat_proof
from dashboard.state import Ctx, Dashboard, participants_of
from dashboard.validation import booking_plan, saga_plan
from flightsaga.v1 import common_pb2, logs_pb2, orchestrator_pb2
from sagakit import context

log = logging.getLogger("dashboard")

SSE_PING = 15.0
LOG_IDLE = 0.3

router = APIRouter()


@router.post("/api/bookings", status_code=202, tags=["sagas"], responses=ERRORS)
async def create_booking(d: Ctx, body: BookingIn) -> BookingStarted:
    """Start a booking saga; answers at once with its id (202). `fail_at` becomes x-fail-at,
    `faults` x-fault. The saga's progress is at /api/sagas/{id}/events."""
    plan = booking_plan(body, context.correlation_id.get())
    saga = await d.starter.start(plan)
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


def _links(sid: str) -> dict[str, str]:
    return {
        "self": f"/api/sagas/{sid}",
        "events": f"/api/sagas/{sid}/events",
        "log": f"/api/sagas/{sid}/log",
        "page": f"/test?saga={sid}",
    }


# The orchestrator's names for what the start body calls otherwise (its error names the field).
_START_FIELDS = {"x-fail-at": "fail_at", "x-fault": "faults", "request_id": "idempotency_key"}


def _start_field(field: str | None) -> str | None:
    return _START_FIELDS.get(field, field) if field else field


@router.post("/api/sagas/start", status_code=202, tags=["sagas"], responses=ERRORS)
async def start_saga(d: Ctx, body: SagaIn) -> SagaStarted:
    """Start a saga of any served kind (GET /api/saga-types) with its input as JSON
    (StartSaga); answers at once with its id (202). `fail_at` becomes x-fail-at, `faults`
    x-fault, with the saga's own step names. A bad input or step is 400 naming the field
    (`input.city`, `fail_at`, ...), and no saga is created."""
    plan = saga_plan(body, context.correlation_id.get())
    try:
        saga = await d.starter.start_saga(plan)
    except ApiError as exc:
        exc.field = _start_field(exc.field)
        exc.violations = [(_start_field(f) or f, m) for f, m in exc.violations]
        raise
    sid = saga.saga_id
    return SagaStarted(
        saga_id=sid,
        saga=saga.saga,
        saga_version=saga.saga_version,
        correlation_id=saga.correlation_id or plan.correlation_id,
        idempotency_key=plan.request.request_id,
        status=orchestrator_pb2.SagaStatus.Name(saga.status),
        replayed=saga.replayed,
        links=_links(sid),
    )


@router.get("/api/sagas/{saga_id}", tags=["sagas"], responses=ERRORS)
async def saga(d: Ctx, saga_id: str) -> dict[str, Any]:
    """One saga: its steps (state, attempts, duration, results) and compensations."""
    return to_dict(await d.get_saga(saga_id))


@router.post("/api/sagas/{saga_id}/resume", tags=["sagas"], responses=ERRORS)
async def resume(
    d: Ctx, saga_id: str, body: Annotated[ResumeIn | None, Body()] = None
) -> JSONResponse:
    """Operator retry of a FAILED (or stuck) saga of any kind; `clear_faults` drops its fault
    plan.
    200 with the record when the resumed saga finished in time, else 202 with its state."""
    p = d.peers
    req = orchestrator_pb2.ResumeSagaRequest(
        saga_id=saga_id, clear_faults=bool(body and body.clear_faults)
    )
    log.warning("[SAGA] operator resume of %s (clear_faults=%s)", saga_id, req.clear_faults)
    try:
        saga = await p.call(
            d.config.orchestrator, p.orchestrator.ResumeSaga, req, timeout=d.config.resume_timeout
        )
    except ApiError as exc:
        if exc.code != "DEADLINE_EXCEEDED":
            raise
        return JSONResponse(to_dict(await d.get_saga(saga_id)), status_code=202)
    code = 200 if terminal(saga) else 202
    return JSONResponse(to_dict(saga), status_code=code)


@router.post("/api/sagas/{saga_id}/cancel", tags=["sagas"], responses=ERRORS)
async def cancel(d: Ctx, saga_id: str, body: CancelIn) -> dict[str, Any]:
    """Operator stop of a RUNNING saga (CancelSaga): it starts no further step and compensates
    what ran (a step in flight too), last first; the record once the cancel is logged (the
    saga's events follow the rest). Operator role when auth is on (403 otherwise); a saga that
    has ended, or FAILED (resume it), is 409."""
    p = d.peers
    req = orchestrator_pb2.CancelSagaRequest(saga_id=saga_id, reason=body.reason)
    saga = await p.call(d.config.orchestrator, p.orchestrator.CancelSaga, req)
    return to_dict(saga)


@router.get("/api/stats", tags=["sagas"], responses=ERRORS)
async def stats(d: Ctx) -> dict[str, Any]:
    """Counts by saga state and by step state."""
    p = d.peers
    reply = await p.call(
        d.config.orchestrator, p.orchestrator.GetStats, orchestrator_pb2.GetStatsRequest()
    )
    return to_dict(reply)


async def saga_events(
    d: Dashboard, saga_id: str, idle: float | None
) -> list[orchestrator_pb2.SagaEvent]:
    """The saga's events so far (the stream ends at a terminal state, or after `idle` s)."""
    p = d.peers
    call = p.orchestrator.WatchSaga(
        orchestrator_pb2.WatchSagaRequest(saga_id=saga_id),
        timeout=d.config.rpc_timeout,
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
            raise map_rpc_error(d.config.orchestrator, exc) from None
    finally:
        call.cancel()
    return events


@router.get("/api/sagas/{saga_id}/log", tags=["sagas"], responses=ERRORS)
async def saga_log(d: Ctx, saga_id: str) -> dict[str, Any]:
    """The saga's log lines in time order: one per event of its timeline (the orchestrator,
    with the original markers), and the lines each of its participants logged for it (their
    Logs RPC: recent lines, kept in memory). A participant that does not answer (or that the
    dashboard has no address for) is named in `missing` and its lines are left out."""
    saga = await d.get_saga(saga_id)
    events = await saga_events(d, saga_id, None if terminal(saga) else LOG_IDLE)
    lines = [(e.at.ToNanoseconds(), event_log_line(e)) for e in events]
    p = d.peers
    participants, missing = await participants_of(d, saga)
    req = logs_pb2.GetSagaLogsRequest(saga_id=saga_id)
    replies = await asyncio.gather(
        *(p.call(peer, p.logs(peer).GetSagaLogs, req, timeout=2.0) for peer in participants),
        return_exceptions=True,
    )
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


@router.get(
    "/api/sagas/{saga_id}/events",
    tags=["sagas"],
    responses={**ERRORS, 200: {"content": {"text/event-stream": {}}}},
    response_class=StreamingResponse,
)
async def events(
    d: Ctx, saga_id: str, last_event_id: Annotated[str | None, Header()] = None
) -> StreamingResponse:
    """Server-sent events from WatchSaga: `saga_event` (one per event, with its log line),
    `saga` (the record after it), then `end` (the terminal record). Reconnects resume after
    Last-Event-ID."""
    first = await d.get_saga(saga_id)  # 404 / 503 before the stream starts
    after = int(last_event_id) if last_event_id and last_event_id.isdigit() else 0
    return StreamingResponse(
        _sse(d, saga_id, first, after),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _frame(event: str, data: Any, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


_Item = orchestrator_pb2.SagaEvent | BaseException | None  # None: the watch ended


def _pumped(
    call: AsyncIterable[orchestrator_pb2.SagaEvent],
) -> tuple[asyncio.Queue[_Item], asyncio.Task[None]]:
    """The watch's events (then None, or the error it ended with) on a queue, read by a task:
    the stream's reader can then wait for the next one with a timeout (the pings)."""
    queue: asyncio.Queue[_Item] = asyncio.Queue()

    async def pump() -> None:
        try:
            async for item in call:
                await queue.put(item)
            await queue.put(None)
        except BaseException as exc:  # handed to the consumer
            await queue.put(exc)

    return queue, asyncio.create_task(pump())


def _watch_error(d: Dashboard, exc: BaseException) -> ApiError:
    if isinstance(exc, grpc.aio.AioRpcError):
        return map_rpc_error(d.config.orchestrator, exc)
    return ApiError(502, f"watch failed: {exc!r}")


async def _sse(
    d: Dashboard, saga_id: str, first: orchestrator_pb2.Saga, after: int
) -> AsyncIterator[str]:
    p = d.peers
    yield "retry: 2000\n\n"
    yield _frame("saga", to_dict(first))
    call = p.orchestrator.WatchSaga(
        orchestrator_pb2.WatchSagaRequest(saga_id=saga_id),
        timeout=d.config.watch_timeout,
        metadata=p.metadata(),
    )
    queue, reader = _pumped(call)
    try:
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), SSE_PING)
            except TimeoutError:
                yield ": ping\n\n"
                continue
            if item is None:
                saga = await d.get_saga(saga_id)
                if terminal(saga):
                    yield _frame("end", to_dict(saga))
                return  # not terminal (watch deadline): the browser reconnects
            if isinstance(item, BaseException):
                yield _frame("api_error", _watch_error(d, item).body())
                return
            if item.seq <= after:
                continue
            yield _frame("saga_event", event_dict(item), item.seq)
            if queue.empty():  # a burst of events gets one fresh record
                try:
                    yield _frame("saga", to_dict(await d.get_saga(saga_id)))
                except ApiError as exc:
                    yield _frame("api_error", exc.body())
                    return
    finally:
        reader.cancel()
        call.cancel()


@router.get("/api/sagas/{saga_id}/proof", tags=["sagas"], responses=ERRORS)
async def proof(d: Ctx, saga_id: str) -> dict[str, Any]:
    """The participants' own records of a booking saga: seat holds held/released, points
    movements, payment charge/refund and the booking's status. Another saga's kind has no
    proof here (409)."""
    saga = await d.get_saga(saga_id)
    if not is_booking(saga):
        raise ApiError(
            409,
            f"saga_id: saga {saga_id} is a {saga.saga} saga; the proof reads a booking's "
            "participants only (its log has its own participants' lines)",
            field="saga_id",
        )
    p = d.peers
    req = common_pb2.SagaRecordsRequest(saga_id=saga_id)
    results = await asyncio.gather(
        p.call(d.config.seat, p.seat.GetHolds, req),
        p.call(d.config.loyalty, p.loyalty.GetMovements, req),
        p.call(d.config.payment, p.payment.GetPayments, req),
        p.call(d.config.booking, p.booking.GetBookingRecords, req),
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
