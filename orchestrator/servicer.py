"""flightsaga.v1.Orchestrator: translates between the API and the saga runner."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator

import grpc

from flightsaga.v1 import common_pb2, orchestrator_pb2_grpc, payment_pb2, seat_pb2
from flightsaga.v1 import orchestrator_pb2 as pb
from orchestrator import booking_saga, page_tokens
from orchestrator.convert import event_to_proto, saga_to_proto
from orchestrator.engine.errors import NotResumable, SagaNotFound
from orchestrator.engine.model import SagaRecord, SagaStatus
from orchestrator.engine.runner import SagaRunner
from orchestrator.faultplan import FaultPlan
from orchestrator.telemetry.counts import SagaCounts, refresh_counts
from sagakit import auth, context, validate
from sagakit.errors import (
    BUSINESS_FAILURE_CODES,
    UNREACHABLE_CODES,
    AlreadyExists,
    DomainError,
    InvalidArgument,
    NotFound,
    Reason,
    Rejected,
    Unavailable,
)
from sagas.booking import BOOK_FLIGHT, rules
from sagas.peers import Peers

log = logging.getLogger("orchestrator.api")

MAX_PAGE = 200
TOKENIZE_ATTEMPTS = 3


class OrchestratorServicer(orchestrator_pb2_grpc.OrchestratorServicer):
    def __init__(
        self,
        runner: SagaRunner,
        peers: Peers,
        fault_injection: bool,
        step_timeout: float,
        default_delay_ms: int,
        counts: SagaCounts,
    ) -> None:
        self.counts = counts
        self.runner = runner
        self.peers = peers
        self.fault_injection = fault_injection
        self.step_timeout = step_timeout
        # A `delay` fault with no duration: long enough that every attempt times out.
        self.default_delay_ms = default_delay_ms
        # flight id -> cabin class -> its seats (fixed per flight)
        self._layouts: dict[str, dict[int, frozenset[str]]] = {}

    # ---- BookFlight ---------------------------------------------------------------------

    def _fault_plan(self, md: dict[str, str]) -> FaultPlan:
        fail_at, fault = md.get("x-fail-at", ""), md.get("x-fault", "")
        if not (fail_at.strip() or fault.strip()):
            return FaultPlan()
        if not self.fault_injection:
            raise Rejected(
                "fault injection is disabled on the orchestrator (start it with "
                "FAULT_INJECTION=enabled); x-fail-at / x-fault refused",
                Reason.FAULT_INJECTION_DISABLED,
            )
        # A delay with no duration outlasts every attempt, so the step is compensated and its
        # hanging Do arrives after the compensation.
        return FaultPlan.parse(
            fail_at,
            fault,
            BOOK_FLIGHT.canonical_step,
            BOOK_FLIGHT.step_names,
            lambda _: self.default_delay_ms,
        )

    async def _check_flights(self, req: pb.BookFlightRequest) -> None:
        """Unknown flights, and selected seats that are not in the chosen cabin of their flight,
        are bad input: refuse before a saga exists. Seat layouts are fixed per flight: cached."""
        for i, flight_id in enumerate(req.flight_ids):
            if flight_id in self._layouts:
                continue
            try:
                details = await self.peers.seat.GetFlight(
                    seat_pb2.GetFlightRequest(flight_id=flight_id), timeout=self.step_timeout
                )
            except grpc.aio.AioRpcError as exc:
                if exc.code() in BUSINESS_FAILURE_CODES:
                    raise InvalidArgument(
                        f"flight_ids[{i}]", f"unknown flight {flight_id!r}"
                    ) from None
                return  # seat service unreachable: let the saga's retries deal with it
            self._layouts[flight_id] = {
                c.cabin_class: frozenset(s.seat for s in c.seats) for c in details.cabins
            }
        cabin = common_pb2.CabinClass.Name(req.cabin_class)
        for i, sel in enumerate(req.seat_selections):
            layout = self._layouts.get(sel.flight_id.upper()) or self._layouts.get(sel.flight_id)
            if layout is None:
                continue  # not looked up (seat service unreachable): the seat service decides
            if sel.seat.strip().upper() not in layout.get(req.cabin_class, frozenset()):
                raise InvalidArgument(
                    f"seat_selections[{i}].seat",
                    f"{sel.seat!r} is not a {cabin} seat on {sel.flight_id}",
                )

    async def _tokenized(self, request: pb.BookFlightRequest) -> pb.BookFlightRequest:
        """The request as the saga log keeps it: the card replaced by the payment service's
        token (and its last four digits), so no card number or CVC is stored here. The
        payment service is reached before a saga exists: unreachable, the call is UNAVAILABLE
        and nothing was started (retrying with the same key is safe)."""
        reply = None
        for attempt in range(1, TOKENIZE_ATTEMPTS + 1):
            try:
                reply = await self.peers.payment.Tokenize(
                    payment_pb2.TokenizeRequest(card=request.card), timeout=self.step_timeout
                )
                break
            except grpc.aio.AioRpcError as exc:
                if exc.code() in BUSINESS_FAILURE_CODES:
                    raise DomainError.from_rpc(exc) from None
                if attempt < TOKENIZE_ATTEMPTS and exc.code() in UNREACHABLE_CODES:
                    # A slow or restarting payment service: a token is only a vault row (an
                    # unused one harms nothing), so asking again is safe.
                    await asyncio.sleep(0.05 * attempt)
                    continue
                raise Unavailable(
                    f"the payment service could not tokenise the card ({exc.code().name}); "
                    "nothing was started, retrying is safe",
                    Reason.PEER_UNAVAILABLE,
                    peer="payment",
                ) from None
        assert reply is not None
        return booking_saga.tokenized(request, reply)

    async def _start(
        self,
        request: pb.BookFlightRequest,
        context_: grpc.aio.ServicerContext,
        key: str,
        key_field: str,
    ) -> tuple[SagaRecord, bool]:
        """Validate, log and start the saga (or find the one with this idempotency key)."""
        md = {k: v for k, v in context_.invocation_metadata() or () if isinstance(v, str)}
        plan = self._fault_plan(md)
        rules.check(request)
        key = validate.text(key_field, key, 128, False)
        await self._check_flights(request)
        request = await self._tokenized(request)
        # The saga's owner: who may read it with the booker role alone. It is part of the
        # payload, so another caller reusing this idempotency key cannot replay the saga.
        who = auth.caller.get()
        request.owner = who.name if who is not None else ""
        payload = request.SerializeToString(deterministic=True)
        saga = self.runner.new_saga(
            BOOK_FLIGHT.name,
            saga_id=uuid.uuid4().hex,
            correlation_id=context.correlation_id.get(),
            payload=payload,
            idempotency_key=key,
            fault_plan=plan.normalized(),
        )
        stored, created = await self.runner.start(saga)
        context.saga_id.set(stored.saga_id)
        if not created:
            if booking_saga.comparable(stored.payload) != booking_saga.comparable(payload):
                raise AlreadyExists(
                    f"{key_field}: {key!r} was used for a different booking (saga "
                    f"{stored.saga_id}); use a new key for a new booking",
                    Reason.IDEMPOTENCY_KEY_REUSED,
                    field=key_field,
                    saga_id=stored.saga_id,
                )
            log.info("[SAGA] idempotency key %r replays saga %s", key, stored.saga_id)
        return stored, created

    async def StartBooking(
        self, request: pb.StartBookingRequest, context_: grpc.aio.ServicerContext
    ) -> pb.Saga:
        if not request.request_id.strip():
            raise InvalidArgument("request_id", "is required (a UUID chosen by the client)")
        if not request.HasField("booking"):
            raise InvalidArgument("booking", "is required")
        stored, created = await self._start(
            request.booking, context_, request.request_id, "request_id"
        )
        return saga_to_proto(stored, replayed=not created)

    async def BookFlight(
        self, request: pb.BookFlightRequest, context_: grpc.aio.ServicerContext
    ) -> pb.Saga:
        md = {k: v for k, v in context_.invocation_metadata() or () if isinstance(v, str)}
        key = md.get("x-idempotency-key", "")
        stored, created = await self._start(request, context_, key, "x-idempotency-key")
        left = context_.time_remaining()
        # Answer a little before the caller's deadline, with the state as it stands.
        within = None if left is None else max(0.0, left - 0.2)
        final = await self.runner.wait(stored.saga_id, within)
        return saga_to_proto(final or stored, replayed=not created)

    # ---- reads --------------------------------------------------------------------------

    @staticmethod
    def _may_read(saga: SagaRecord) -> None:
        """A caller with the booker role alone reads only the sagas it started."""
        who = auth.caller.get()
        if who is None or who.has(auth.READER, auth.OPERATOR):
            return
        if pb.BookFlightRequest.FromString(saga.payload).owner != who.name:
            raise auth.PermissionDenied(
                f"saga_id: saga {saga.saga_id} was not booked by {who.name} (a booker reads "
                "only its own sagas; the reader role reads all)"
            )

    async def GetSaga(
        self, request: pb.GetSagaRequest, context_: grpc.aio.ServicerContext
    ) -> pb.Saga:
        saga_id = validate.saga_id(request.saga_id)
        saga = await self.runner.get(saga_id)
        if saga is None:
            raise NotFound(f"saga_id: no saga {saga_id!r}")
        self._may_read(saga)
        return saga_to_proto(saga)

    async def ListSagas(
        self, request: pb.ListSagasRequest, context_: grpc.aio.ServicerContext
    ) -> pb.ListSagasResponse:
        status = None
        if request.status != pb.SAGA_STATUS_UNSPECIFIED:
            if request.status not in pb.SagaStatus.values():
                raise InvalidArgument("status", f"unknown status {request.status}")
            status = SagaStatus(pb.SagaStatus.Name(request.status))
        size = request.page_size or 20
        if size > MAX_PAGE:
            raise InvalidArgument("page_size", f"at most {MAX_PAGE} (got {size})")
        after = page_tokens.decode(request.page_token, status.value if status else "")
        page = await self.runner.store.page(status, size, after)
        return pb.ListSagasResponse(
            sagas=[saga_to_proto(s) for s in page.sagas],
            next_page_token=page_tokens.encode(page.after, status.value if status else ""),
            total=page.total,
        )

    async def WatchSaga(
        self, request: pb.WatchSagaRequest, context_: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.SagaEvent]:
        saga_id = validate.saga_id(request.saga_id)
        saga = await self.runner.get(saga_id)
        if saga is None:
            raise NotFound(f"saga_id: no saga {saga_id!r}", field="saga_id")
        self._may_read(saga)
        # Live from whichever replica drives it (events logged by another arrive through the
        # shared log).
        async for event in self.runner.follow(saga_id):
            yield event_to_proto(event)

    async def ResumeSaga(
        self, request: pb.ResumeSagaRequest, context_: grpc.aio.ServicerContext
    ) -> pb.Saga:
        saga_id = validate.saga_id(request.saga_id)
        context.saga_id.set(saga_id)
        try:
            saga = await self.runner.resume(saga_id, request.clear_faults)
        except SagaNotFound:
            raise NotFound(f"saga_id: no saga {saga_id!r}", field="saga_id") from None
        except NotResumable as exc:
            raise Rejected(str(exc), Reason.SAGA_NOT_RESUMABLE) from None
        left = context_.time_remaining()
        final = await self.runner.wait(saga.saga_id, None if left is None else max(0.0, left - 0.2))
        return saga_to_proto(final or saga)

    async def GetStats(
        self, request: pb.GetStatsRequest, context_: grpc.aio.ServicerContext
    ) -> pb.Stats:
        # Kept as sagas move (read once at start): no table scan per call. A log shared with
        # other replicas is read for each call instead (others move sagas too): saga_counts
        # for the finished sagas, a count of the live and FAILED ones.
        await refresh_counts(self.runner.store, self.counts, fresh=True)
        c = self.counts
        return pb.Stats(
            running=c.get("RUNNING"),
            compensating=c.get("COMPENSATING"),
            completed=c.get("COMPLETED"),
            compensated=c.get("COMPENSATED"),
            failed=c.get("FAILED"),
            total=sum(c.get(s.value) for s in SagaStatus),
            steps_pending=c.get("live:PENDING"),
            steps_executing=c.get("live:EXECUTING"),
            steps_completed=c.get("all:SUCCEEDED"),
            steps_failed=c.get("all:STEP_FAILED") + c.get("all:UNKNOWN_OUTCOME"),
            compensations_pending=c.get("compensations_pending"),
            compensations_completed=c.get("all:COMPENSATED_STEP"),
        )


__all__ = ["DomainError", "OrchestratorServicer"]
