"""The Python client library for FlightSaga (what the CLI, the demo and scripts use).

    async with OrchestratorClient() as fs:              # ORCHESTRATOR_ADDR or 127.0.0.1:50050
        flights = await fs.search_flights("JFK", "LAX", "2027-01-15")  # YYYY-MM-DD, not departed
        saga = await fs.book(booking(flight_ids=[flights.outbound[0].flight_id]),
                             fail_at=["payment"])
        async for event in fs.watch(saga.saga_id): ...

Errors, and how to read them: OrchestratorClient.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from types import TracebackType
from typing import Any

import grpc

from flightsaga.v1 import (
    common_pb2,
    orchestrator_pb2,
    orchestrator_pb2_grpc,
    seat_pb2,
    seat_pb2_grpc,
)
from sagakit import context
from sagakit.channels import open_channel
from sagakit.config import TlsConfig
from sagakit.errors import ErrorDetails, Reason
from sagakit.errors import details_of as error_details
from sagakit.saga_finder import FilterWords, saga_filter

DEFAULT_ORCHESTRATOR = "127.0.0.1:50050"
DEFAULT_SEAT = "127.0.0.1:50051"
CABINS = {
    "economy": common_pb2.ECONOMY,
    "premium": common_pb2.PREMIUM_ECONOMY,
    "premium_economy": common_pb2.PREMIUM_ECONOMY,
    "business": common_pb2.BUSINESS,
    "first": common_pb2.FIRST,
}


class Unreachable(Exception):
    """The orchestrator (or seat service) did not answer."""


def booking(
    flight_ids: Sequence[str],
    passengers: Sequence[tuple[str, str]] = (("Ada", "Lovelace"),),
    cabin: str = "economy",
    customer_id: str = "LOY-1001",
    points: int = 0,
    card_number: str = "4242424242424242",
    card_expiry: tuple[int, int] = (12, 2030),
    card_cvc: str = "123",
    card_holder: str = "",
) -> orchestrator_pb2.BookFlightRequest:
    """A BookFlightRequest from plain values (cabin by name: economy, premium, business, first)."""
    if cabin.lower() not in CABINS:
        raise ValueError(f"cabin must be one of {', '.join(CABINS)}")
    holder = card_holder or (" ".join(passengers[0]) if passengers else "")
    return orchestrator_pb2.BookFlightRequest(
        customer_id=customer_id,
        flight_ids=list(flight_ids),
        passengers=[common_pb2.Passenger(first_name=f, last_name=last) for f, last in passengers],
        cabin_class=CABINS[cabin.lower()],
        loyalty_points=points,
        card=common_pb2.Card(
            number=card_number,
            exp_month=card_expiry[0],
            exp_year=card_expiry[1],
            cvc=card_cvc,
            holder_name=holder,
        ),
    )


def _metadata(
    correlation_id: str | None, fail_at: Sequence[str], fault: str
) -> list[tuple[str, str]]:
    """A saga start's metadata: its correlation id (a new one by default) and its faults."""
    md = [(context.CORRELATION_HEADER, correlation_id or context.new_correlation_id())]
    if fail_at:
        md.append(("x-fail-at", ",".join(fail_at)))
    if fault:
        md.append(("x-fault", fault))
    return md


class OrchestratorClient:
    """The Orchestrator API, and the seat service's flight search. Every call has a deadline.

    An unreachable orchestrator raises `Unreachable`, whose message says which address was tried
    and which environment variable sets it. Any other refusal raises `grpc.aio.AioRpcError`;
    read what it means with `error_details(exc)` (its ErrorInfo reason, e.g.
    `IDEMPOTENCY_KEY_REUSED`, and the BadRequest field violations), not from the message:

        except grpc.aio.AioRpcError as exc:
            if error_details(exc).reason == Reason.INVALID_ARGUMENT: ...
    """

    def __init__(
        self,
        addr: str | None = None,
        seat_addr: str | None = None,
        timeout: float = 30.0,
        token: str | None = None,
        tls: TlsConfig | None = None,
    ) -> None:
        """`token`: the API token (default $FLIGHTSAGA_TOKEN; needed when the orchestrator runs
        with AUTH_TOKENS_FILE). `tls`: default from TLS_CA_FILE / TLS_CERT_FILE / TLS_KEY_FILE."""
        self.addr = addr or os.environ.get("ORCHESTRATOR_ADDR") or DEFAULT_ORCHESTRATOR
        self.seat_addr = seat_addr or os.environ.get("SEAT_SERVICE_ADDR") or DEFAULT_SEAT
        self.timeout = timeout
        self.tls = TlsConfig.from_env() if tls is None else tls
        self._channel = open_channel(self.addr, self.tls, token)
        self._stub = orchestrator_pb2_grpc.OrchestratorStub(self._channel)
        self._seat_channel: grpc.aio.Channel | None = None

    async def __aenter__(self) -> OrchestratorClient:
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._channel.close()
        if self._seat_channel is not None:
            await self._seat_channel.close()

    @staticmethod
    def _raise_if_unreachable(exc: grpc.aio.AioRpcError, addr: str, var: str) -> None:
        if exc.code() == grpc.StatusCode.UNAVAILABLE:
            raise Unreachable(
                f"cannot reach {addr} ({exc.details()}); is the stack up (`make up`)? "
                f"Set {var} to point elsewhere."
            ) from exc

    async def book(
        self,
        request: orchestrator_pb2.BookFlightRequest,
        fail_at: Sequence[str] = (),
        fault: str = "",
        correlation_id: str | None = None,
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> orchestrator_pb2.Saga:
        """Run a booking saga; returns the saga once terminal (or as it stands at the deadline)."""
        md = _metadata(correlation_id, fail_at, fault)
        if idempotency_key:
            md.append(("x-idempotency-key", idempotency_key))
        try:
            saga: orchestrator_pb2.Saga = await self._stub.BookFlight(
                request, metadata=tuple(md), timeout=timeout or self.timeout
            )
        except grpc.aio.AioRpcError as exc:
            self._raise_if_unreachable(exc, self.addr, "ORCHESTRATOR_ADDR")
            raise
        return saga

    async def start(
        self,
        request: orchestrator_pb2.BookFlightRequest,
        request_id: str | None = None,
        fail_at: Sequence[str] = (),
        fault: str = "",
        correlation_id: str | None = None,
    ) -> orchestrator_pb2.Saga:
        """Start a booking saga and return it at once (usually RUNNING; follow it with
        `watch`). `request_id` (default: a new UUID) makes a retry safe: the same id returns
        the same saga, never a second booking."""
        md = _metadata(correlation_id, fail_at, fault)
        start = orchestrator_pb2.StartBookingRequest(
            request_id=request_id or uuid.uuid4().hex, booking=request
        )
        try:
            saga: orchestrator_pb2.Saga = await self._stub.StartBooking(
                start, metadata=tuple(md), timeout=self.timeout
            )
        except grpc.aio.AioRpcError as exc:
            self._raise_if_unreachable(exc, self.addr, "ORCHESTRATOR_ADDR")
            raise
        return saga

    async def start_saga(
        self,
        saga: str,
        saga_input: Mapping[str, Any],
        version: int = 0,
        request_id: str | None = None,
        wait: bool = False,
        fail_at: Sequence[str] = (),
        fault: str = "",
        correlation_id: str | None = None,
    ) -> orchestrator_pb2.Saga:
        """Start a saga of any served saga type (`saga_types`) with its input as JSON; at once
        (usually RUNNING), or with `wait` once it is terminal (or as it stands at the
        deadline). `request_id` (default: a new UUID) is the idempotency key."""
        md = _metadata(correlation_id, fail_at, fault)
        start = orchestrator_pb2.StartSagaRequest(
            saga=saga, version=version, request_id=request_id or uuid.uuid4().hex, wait=wait
        )
        start.input.update(dict(saga_input))
        try:
            reply: orchestrator_pb2.Saga = await self._stub.StartSaga(
                start, metadata=tuple(md), timeout=self.timeout
            )
        except grpc.aio.AioRpcError as exc:
            self._raise_if_unreachable(exc, self.addr, "ORCHESTRATOR_ADDR")
            raise
        return reply

    async def saga_types(self) -> orchestrator_pb2.ListSagaTypesResponse:
        """The sagas the orchestrator serves, every version, with their steps."""
        reply = await self._call("ListSagaTypes", orchestrator_pb2.ListSagaTypesRequest())
        assert isinstance(reply, orchestrator_pb2.ListSagaTypesResponse)
        return reply

    async def _call(self, method: str, request: object) -> object:
        try:
            return await getattr(self._stub, method)(request, timeout=self.timeout)
        except grpc.aio.AioRpcError as exc:
            self._raise_if_unreachable(exc, self.addr, "ORCHESTRATOR_ADDR")
            raise

    async def get(self, saga_id: str) -> orchestrator_pb2.Saga:
        reply = await self._call("GetSaga", orchestrator_pb2.GetSagaRequest(saga_id=saga_id))
        assert isinstance(reply, orchestrator_pb2.Saga)
        return reply

    async def list(
        self,
        status: str = "",
        page_size: int = 20,
        page_token: str = "",
        where: orchestrator_pb2.SagaFilter | FilterWords | None = None,
    ) -> orchestrator_pb2.ListSagasResponse:
        """A page of sagas, newest first: of one `status`, or as `where` says (a SagaFilter, or
        FilterWords such as `FilterWords(customer="LOY-1001", since="1h")`); a FilterWords
        that means nothing raises ValueError naming the word."""
        value = orchestrator_pb2.SagaStatus.Value(status.upper() or "SAGA_STATUS_UNSPECIFIED")
        if isinstance(where, FilterWords):
            where = saga_filter(where)
        reply = await self._call(
            "ListSagas",
            orchestrator_pb2.ListSagasRequest(
                status=value, page_size=page_size, page_token=page_token, filter=where
            ),
        )
        assert isinstance(reply, orchestrator_pb2.ListSagasResponse)
        return reply

    async def resume(self, saga_id: str, clear_faults: bool = False) -> orchestrator_pb2.Saga:
        reply = await self._call(
            "ResumeSaga",
            orchestrator_pb2.ResumeSagaRequest(saga_id=saga_id, clear_faults=clear_faults),
        )
        assert isinstance(reply, orchestrator_pb2.Saga)
        return reply

    async def start_bulk_job(
        self, request: orchestrator_pb2.StartBulkJobRequest
    ) -> orchestrator_pb2.BulkJob:
        """A bulk resume or cancel by filter (or its dry run); see docs/api.md."""
        reply = await self._call("StartBulkJob", request)
        assert isinstance(reply, orchestrator_pb2.BulkJob)
        return reply

    async def bulk_job(self, job_id: str, stop: bool = False) -> orchestrator_pb2.BulkJob:
        """A bulk job's progress; `stop`: ask it to stop first."""
        method, request = (
            ("StopBulkJob", orchestrator_pb2.StopBulkJobRequest(job_id=job_id))
            if stop
            else ("GetBulkJob", orchestrator_pb2.GetBulkJobRequest(job_id=job_id))
        )
        reply = await self._call(method, request)
        assert isinstance(reply, orchestrator_pb2.BulkJob)
        return reply

    async def cancel(self, saga_id: str, reason: str) -> orchestrator_pb2.Saga:
        """Operator stop of a running saga: it compensates what ran (CancelSaga)."""
        reply = await self._call(
            "CancelSaga", orchestrator_pb2.CancelSagaRequest(saga_id=saga_id, reason=reason)
        )
        assert isinstance(reply, orchestrator_pb2.Saga)
        return reply

    async def stats(self) -> orchestrator_pb2.Stats:
        reply = await self._call("GetStats", orchestrator_pb2.GetStatsRequest())
        assert isinstance(reply, orchestrator_pb2.Stats)
        return reply

    async def watch(self, saga_id: str) -> AsyncIterator[orchestrator_pb2.SagaEvent]:
        """The saga's events, past then live, until it is terminal (no deadline: it's a stream)."""
        call = self._stub.WatchSaga(orchestrator_pb2.WatchSagaRequest(saga_id=saga_id))
        try:
            async for event in call:
                yield event
        except grpc.aio.AioRpcError as exc:
            self._raise_if_unreachable(exc, self.addr, "ORCHESTRATOR_ADDR")
            raise

    async def search_flights(
        self,
        origin: str,
        destination: str,
        date: str,
        return_date: str = "",
        cabin: str = "economy",
        passengers: int = 1,
    ) -> seat_pb2.SearchFlightsResponse:
        """Flight search goes to the seat service, which owns the schedule (SEAT_SERVICE_ADDR)."""
        if self._seat_channel is None:
            self._seat_channel = open_channel(self.seat_addr, self.tls, token="")
        stub = seat_pb2_grpc.SeatServiceStub(self._seat_channel)
        try:
            reply: seat_pb2.SearchFlightsResponse = await stub.SearchFlights(
                seat_pb2.SearchFlightsRequest(
                    origin=origin.upper(),
                    destination=destination.upper(),
                    date=date,
                    return_date=return_date,
                    cabin_class=CABINS.get(cabin.lower(), common_pb2.ECONOMY),
                    passengers=passengers,
                ),
                timeout=self.timeout,
            )
        except grpc.aio.AioRpcError as exc:
            self._raise_if_unreachable(exc, self.seat_addr, "SEAT_SERVICE_ADDR")
            raise
        return reply


__all__ = [
    "CABINS",
    "ErrorDetails",
    "OrchestratorClient",
    "Reason",
    "Unreachable",
    "booking",
    "error_details",
]
