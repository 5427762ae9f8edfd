"""flightsaga.v1.Orchestrator: translates between the API and the saga runner, for every saga
it serves (each through its door, orchestrator.doors)."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message

from flightsaga.v1 import orchestrator_pb2 as pb
from flightsaga.v1 import orchestrator_pb2_grpc
from orchestrator import booking_saga, page_tokens, saga_filter
from orchestrator.admission import Admission
from orchestrator.bulk_api import BulkJobsApi
from orchestrator.convert import event_to_proto, saga_to_proto
from orchestrator.doors import Doors, SagaDoor
from orchestrator.engine.bulk_jobs import BulkJobs
from orchestrator.engine.errors import NotCancellable, NotResumable, SagaNotFound
from orchestrator.engine.model import SagaRecord, SagaStatus
from orchestrator.engine.runner import SagaRunner
from orchestrator.engine.saga_query import SagaQuery
from orchestrator.faultplan import FaultPlan
from orchestrator.telemetry.counts import SagaCounts, refresh_counts
from sagakit import auth, context, validate
from sagakit.errors import (
    AlreadyExists,
    DomainError,
    InvalidArgument,
    NotFound,
    Reason,
    Rejected,
)
from sagas.declare import SagaDeclaration

log = logging.getLogger("orchestrator.api")

MAX_PAGE = 200
MAX_CANCEL_REASON = 500
# Who cancelled a saga when auth is off (no caller has a name).
ANONYMOUS = "anonymous"


class OrchestratorServicer(BulkJobsApi, orchestrator_pb2_grpc.OrchestratorServicer):
    def __init__(
        self,
        runner: SagaRunner,
        doors: Doors,
        fault_injection: bool,
        default_delay_ms: int,
        counts: SagaCounts,
        bulk: BulkJobs,
        admission: Admission | None = None,
    ) -> None:
        self.bulk = bulk
        self.counts = counts
        self.admission = admission
        self.runner = runner
        self.doors = doors
        self.fault_injection = fault_injection
        # A `delay` fault with no duration: long enough that every attempt times out.
        self.default_delay_ms = default_delay_ms
        self.types = saga_types(doors)

    # ---- starting a saga ----------------------------------------------------------------

    def _fault_plan(self, md: dict[str, str], declaration: SagaDeclaration) -> FaultPlan:
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
            declaration.canonical_step,
            declaration.step_names,
            lambda _: self.default_delay_ms,
        )

    async def _start(
        self,
        door: SagaDoor,
        declaration: SagaDeclaration,
        message: Message,
        context_: grpc.aio.ServicerContext,
        key: tuple[str, str],
    ) -> tuple[SagaRecord, bool]:
        """Validate, log and start the saga (or find the one with this idempotency key).
        `key`: the idempotency key and the field it came in."""
        md = {k: v for k, v in context_.invocation_metadata() or () if isinstance(v, str)}
        left = context_.time_remaining()
        context.deadline.set(None if left is None else time.monotonic() + left)
        plan = self._fault_plan(md, declaration)
        declaration.check(message)
        key_field = key[1]
        idempotency_key = validate.text(key_field, key[0], 128, False)
        if self.admission is None:
            return await self._log(door, declaration, message, idempotency_key, plan, key_field)
        async with self.admission.slot(idempotency_key):
            return await self._log(door, declaration, message, idempotency_key, plan, key_field)

    async def _log(
        self,
        door: SagaDoor,
        declaration: SagaDeclaration,
        message: Message,
        idempotency_key: str,
        plan: FaultPlan,
        key_field: str,
    ) -> tuple[SagaRecord, bool]:
        """Log and run the new saga, or find the one its idempotency key names."""
        who = auth.caller.get()
        message = await door.prepare(message, who.name if who is not None else "")
        payload = message.SerializeToString(deterministic=True)
        saga = self.runner.new_saga(
            declaration.name,
            saga_id=uuid.uuid4().hex,
            correlation_id=context.correlation_id.get(),
            payload=payload,
            idempotency_key=idempotency_key,
            options=plan.normalized(),
            version=declaration.version,
        )
        saga.subject = door.subject(message)
        stored, created = await self.runner.start(saga)
        context.saga_id.set(stored.saga_id)
        if not created:
            if stored.definition != declaration.name or door.comparable(
                stored.payload
            ) != door.comparable(payload):
                raise AlreadyExists(
                    f"{key_field}: {idempotency_key!r} was used for a different {door.noun} "
                    f"(saga {stored.saga_id}); use a new key for a new {door.noun}",
                    Reason.IDEMPOTENCY_KEY_REUSED,
                    field=key_field,
                    saga_id=stored.saga_id,
                )
            log.info("[SAGA] idempotency key %r replays saga %s", idempotency_key, stored.saga_id)
        return stored, created

    async def _answer(
        self, stored: SagaRecord, created: bool, context_: grpc.aio.ServicerContext
    ) -> pb.Saga:
        """The saga once terminal, or as it stands a little before the caller's deadline."""
        left = context_.time_remaining()
        within = None if left is None else max(0.0, left - 0.2)
        final = await self.runner.wait(stored.saga_id, within)
        return self._shown(final or stored, replayed=not created)

    def _shown(self, saga: SagaRecord, replayed: bool = False) -> pb.Saga:
        return saga_to_proto(saga, self.doors.of(saga), replayed)

    def _booking(self) -> SagaDoor:
        door = self.doors.by_name.get(booking_saga.NAME)
        if door is None:
            raise Rejected(
                f"this orchestrator does not serve the booking saga (SAGAS lists "
                f"{', '.join(self.doors.by_name)}); use StartSaga",
                Reason.SAGA_NOT_SERVED,
            )
        return door

    async def StartBooking(
        self, request: pb.StartBookingRequest, context_: grpc.aio.ServicerContext
    ) -> pb.Saga:
        if not request.request_id.strip():
            raise InvalidArgument("request_id", "is required (a UUID chosen by the client)")
        if not request.HasField("booking"):
            raise InvalidArgument("booking", "is required")
        door = self._booking()
        stored, created = await self._start(
            door, door.declaration, request.booking, context_, (request.request_id, "request_id")
        )
        return self._shown(stored, replayed=not created)

    async def BookFlight(
        self, request: pb.BookFlightRequest, context_: grpc.aio.ServicerContext
    ) -> pb.Saga:
        md = {k: v for k, v in context_.invocation_metadata() or () if isinstance(v, str)}
        key = (md.get("x-idempotency-key", ""), "x-idempotency-key")
        door = self._booking()
        stored, created = await self._start(door, door.declaration, request, context_, key)
        return await self._answer(stored, created, context_)

    async def StartSaga(
        self, request: pb.StartSagaRequest, context_: grpc.aio.ServicerContext
    ) -> pb.Saga:
        if not request.saga.strip():
            raise InvalidArgument("saga", f"is required (served: {', '.join(self.doors.by_name)})")
        door = self.doors.known(request.saga, "saga")
        declaration = door.version(request.version, "version")
        if not request.request_id.strip():
            raise InvalidArgument("request_id", "is required (a UUID chosen by the client)")
        if not request.HasField("input"):
            raise InvalidArgument("input", f"is required (a {door.input_name} as JSON)")
        message = door.parse(json_format.MessageToDict(request.input), "input", declaration)
        stored, created = await self._start(
            door, declaration, message, context_, (request.request_id, "request_id")
        )
        if request.wait:
            return await self._answer(stored, created, context_)
        return self._shown(stored, replayed=not created)

    async def ListSagaTypes(
        self, request: pb.ListSagaTypesRequest, context_: grpc.aio.ServicerContext
    ) -> pb.ListSagaTypesResponse:
        return self.types

    # ---- reads --------------------------------------------------------------------------

    def _may_read(self, saga: SagaRecord) -> None:
        """A caller with the booker role alone reads only the sagas it started (a saga whose
        input names no owner: readers only)."""
        who = auth.caller.get()
        if who is None or who.has(auth.READER, auth.OPERATOR):
            return
        door = self.doors.of(saga)
        if door is None or door.owner(saga.payload) != who.name:
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
        return self._shown(saga)

    async def ListSagas(
        self, request: pb.ListSagasRequest, context_: grpc.aio.ServicerContext
    ) -> pb.ListSagasResponse:
        size = request.page_size or 20
        if size > MAX_PAGE:
            raise InvalidArgument("page_size", f"at most {MAX_PAGE} (got {size})")
        query = self._query(request)
        after = page_tokens.decode(request.page_token, query.fingerprint())
        page = await self.runner.store.page(query, size, after)
        return pb.ListSagasResponse(
            sagas=[self._shown(s) for s in page.sagas],
            next_page_token=page_tokens.encode(page.after, query.fingerprint()),
            total=page.total,
            total_capped=page.total_capped,
        )

    def _query(self, request: pb.ListSagasRequest) -> SagaQuery:
        """The request's filter (and its older `status`), limited to the caller's own sagas
        for a booker."""
        who = auth.caller.get()
        owner = None if who is None or who.has(auth.READER, auth.OPERATOR) else who.name
        query = saga_filter.query_of(request.filter, self.doors, owner)
        if request.status == pb.SAGA_STATUS_UNSPECIFIED:
            return query
        status = saga_filter.status_of(request.status, "status")
        if query.statuses and set(query.statuses) != {status}:
            raise InvalidArgument(
                "status", "disagrees with filter.statuses (set one of them, or both alike)"
            )
        return replace(query, statuses=(status,))

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
        return self._shown(final or saga)

    async def CancelSaga(
        self, request: pb.CancelSagaRequest, context_: grpc.aio.ServicerContext
    ) -> pb.Saga:
        saga_id = validate.saga_id(request.saga_id)
        reason = validate.text("reason", request.reason, MAX_CANCEL_REASON, True)
        who = auth.caller.get()
        try:
            saga = await self.runner.cancel(
                saga_id, reason=reason, by=who.name if who is not None else ANONYMOUS
            )
        except SagaNotFound:
            raise NotFound(f"saga_id: no saga {saga_id!r}", field="saga_id") from None
        except NotCancellable as exc:
            raise Rejected(str(exc), Reason.SAGA_NOT_CANCELLABLE) from None
        return self._shown(saga)

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


def saga_types(doors: Doors) -> pb.ListSagaTypesResponse:
    """ListSagaTypes' answer: fixed for the process (SAGAS is read at start)."""
    out = pb.ListSagaTypesResponse()
    for name in sorted(doors.by_name):
        door = doors[name]
        for version, d in sorted(door.versions.items()):
            out.sagas.add(
                name=d.name,
                version=version,
                latest=d is door.declaration,
                title=d.title,
                input_type=d.input.DESCRIPTOR.full_name,
                input_fields=[f.name for f in d.input.DESCRIPTOR.fields],
                steps=[
                    pb.SagaStepType(
                        name=s.name,
                        title=s.title,
                        short=s.short,
                        undo=s.undo,
                        aliases=s.aliases,
                        participant=s.participant.name,
                    )
                    for s in d.steps
                ],
            )
    return out


__all__ = ["DomainError", "OrchestratorServicer", "saga_types"]
