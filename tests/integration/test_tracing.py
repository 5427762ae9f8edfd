"""OpenTelemetry traces, exported over OTLP by every service (real processes) to a receiver in
the test: one trace per saga with a span per attempt, the participants' spans beneath, the
caller's traceparent continued, and the trace id in GetSaga and in the log lines."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from flightsaga.v1 import orchestrator_pb2 as pb
from flightsaga.v1 import orchestrator_pb2_grpc
from tests.support.booking import book_request
from tests.support.otlp import Receiver, Span, otlp_receiver
from tests.support.procs import ServiceProcess, free_port
from tests.support.services import PARTICIPANTS
from tests.support.stack import TEST_ENV

SERVER, CLIENT = 2, 3  # OTLP span kinds


@pytest.fixture
async def traced(tmp_path: Path) -> AsyncIterator[tuple[Receiver, dict[str, ServiceProcess]]]:
    async with otlp_receiver() as receiver:
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "100",  # export within a tenth of a second
            "FAULT_INJECTION": "enabled",
        }
        procs: dict[str, ServiceProcess] = {}
        try:
            for name in PARTICIPANTS:
                procs[name] = ServiceProcess(
                    name,
                    free_port(),
                    {**env, "DATABASE_URL": f"sqlite:///{tmp_path / name}.db"},
                    tmp_path / f"{name}.log",
                )
            addrs = {f"{n.split('_')[0].upper()}_SERVICE_ADDR": p.addr for n, p in procs.items()}
            procs["orchestrator"] = ServiceProcess(
                "orchestrator",
                free_port(),
                {
                    **env,
                    **TEST_ENV,
                    **addrs,
                    "DATABASE_URL": f"sqlite:///{tmp_path / 'orchestrator'}.db",
                },
                tmp_path / "orchestrator.log",
            )
            for p in procs.values():
                p.start()
            for p in procs.values():
                await p.wait_healthy()
            yield receiver, procs
        finally:
            for p in procs.values():
                p.stop()


def children(spans: list[Span], parent: Span) -> list[Span]:
    return sorted(
        (s for s in spans if s.parent_id == parent.span_id and s.trace_id == parent.trace_id),
        key=lambda s: s.start_ns,
    )


async def test_a_compensated_saga_is_one_trace_with_every_attempt(
    traced: tuple[Receiver, dict[str, ServiceProcess]],
) -> None:
    receiver, procs = traced
    client_trace, client_span = secrets.token_hex(16), secrets.token_hex(8)
    async with grpc.aio.insecure_channel(procs["orchestrator"].addr) as channel:
        stub = orchestrator_pb2_grpc.OrchestratorStub(channel)
        flights = await _flight(procs)
        saga = await stub.BookFlight(
            book_request([flights]),
            metadata=(
                ("traceparent", f"00-{client_trace}-{client_span}-01"),
                ("x-correlation-id", "trace-test-1"),
                ("x-fail-at", "booking"),
                ("x-fault", "payment:transient=1,loyalty:compensate-fail=1"),
            ),
            timeout=30,
        )
        assert saga.status == pb.COMPENSATED, saga.error
        fetched = await stub.GetSaga(pb.GetSagaRequest(saga_id=saga.saga_id), timeout=5)
    trace_id = fetched.trace_id
    assert len(trace_id) == 32 and trace_id == saga.trace_id

    def complete(spans: list[Span]) -> bool:
        mine = [s for s in spans if s.trace_id == trace_id]
        return any(s.name == "saga book_flight" for s in mine) and any(
            s.service == "seat_service" and s.name.endswith("SeatService/Compensate") for s in mine
        )

    await receiver.wait_for(complete)
    spans = [s for s in receiver.spans if s.trace_id == trace_id]

    # One root for the whole saga, from the orchestrator.
    roots = [s for s in spans if s.name == "saga book_flight"]
    assert len(roots) == 1 and roots[0].parent_id == "", roots
    root = roots[0]
    assert root.service == "orchestrator"
    assert root.attributes["flightsaga.saga_id"] == saga.saga_id
    assert root.attributes["flightsaga.saga.status"] == "COMPENSATED"

    # Beneath it: every attempt, in order, with what happened to it.
    attempts = [
        (
            s.name,
            s.attributes["flightsaga.attempt"],
            s.attributes["flightsaga.outcome"],
            s.attributes.get("flightsaga.error.reason", ""),
        )
        for s in children(spans, root)
        if s.name.startswith(("Do ", "Compensate "))
    ]
    assert attempts == [
        ("Do reserve_seat", 1, "OK", ""),
        ("Do deduct_loyalty_points", 1, "OK", ""),
        ("Do process_payment", 1, "UNAVAILABLE", "FAULT_INJECTED"),
        ("Do process_payment", 2, "OK", ""),
        ("Do confirm_booking", 1, "ABORTED", "FAULT_INJECTED"),
        ("Compensate process_payment", 1, "OK", ""),
        ("Compensate deduct_loyalty_points", 1, "INTERNAL", "FAULT_INJECTED"),
        ("Compensate deduct_loyalty_points", 2, "OK", ""),
        ("Compensate reserve_seat", 1, "OK", ""),
    ]
    by_name = {s.name: s for s in children(spans, root)}
    confirm = by_name["Do confirm_booking"]
    assert "x-fail=do" in confirm.attributes["flightsaga.fault"]
    retry = [s for s in children(spans, root) if s.name == "Do process_payment"][1]
    assert "retry" in retry.events

    # Each attempt's call reached its participant within the same trace: attempt -> gRPC
    # client span -> the participant's server span.
    for attempt, service in [
        (confirm, "booking_service"),
        (by_name["Compensate reserve_seat"], "seat_service"),
    ]:
        (client,) = children(spans, attempt)
        assert client.kind == CLIENT
        (server,) = children(spans, client)
        assert (server.kind, server.service) == (SERVER, service)

    # The caller's trace was continued by BookFlight (and its calls before the saga existed),
    # and the saga's start links back to it.
    calls = [s for s in receiver.spans if s.trace_id == client_trace]
    book = next(s for s in calls if s.name.endswith("Orchestrator/BookFlight"))
    assert book.parent_id == client_span and book.service == "orchestrator"
    assert book.attributes["flightsaga.saga_trace_id"] == trace_id
    assert any(s.service == "payment_service" for s in calls)  # Tokenize, before the saga
    started = by_name["saga started"]
    assert (client_trace, book.span_id) in started.links

    # Log lines carry the trace id beside the correlation id.
    for name in ("orchestrator", "booking_service"):
        lines = procs[name].log.read_text().splitlines()
        assert any("cid=trace-test-1" in ln and f"trace={trace_id}" in ln for ln in lines), name


async def _flight(procs: dict[str, ServiceProcess]) -> str:
    from tests.support.booking import first_flight
    from tests.support.stack import Stack

    addrs = {n: p.addr for n, p in procs.items() if n != "orchestrator"}
    stack = Stack(procs["orchestrator"].addr, addrs, Path("."))
    try:
        return await first_flight(stack)
    finally:
        for channel in stack.channels:
            await channel.close()


async def test_recovery_after_kill9_continues_the_same_trace(
    traced: tuple[Receiver, dict[str, ServiceProcess]],
) -> None:
    receiver, procs = traced
    orch = procs["orchestrator"]
    flight = await _flight(procs)
    async with grpc.aio.insecure_channel(orch.addr) as channel:
        stub = orchestrator_pb2_grpc.OrchestratorStub(channel)
        saga = await stub.StartBooking(
            pb.StartBookingRequest(request_id="trace-kill-1", booking=book_request([flight])),
            metadata=(("x-fault", "payment:delay=700"),),
            timeout=10,
        )
    await receiver.wait_for(
        lambda spans: any(
            s.trace_id == saga.trace_id and s.name == "Do deduct_loyalty_points" for s in spans
        )
    )
    orch.kill9()  # while the payment is held back, past its deadline
    orch.start()
    await orch.wait_healthy()
    async with grpc.aio.insecure_channel(orch.addr) as channel:
        stub = orchestrator_pb2_grpc.OrchestratorStub(channel)
        for _ in range(300):
            done = await stub.GetSaga(pb.GetSagaRequest(saga_id=saga.saga_id), timeout=5)
            if done.status not in (pb.RUNNING, pb.COMPENSATING):
                break
            await asyncio.sleep(0.1)
    await receiver.wait_for(
        lambda spans: any(
            s.trace_id == saga.trace_id and s.name == "saga book_flight" for s in spans
        )
    )
    spans = [s for s in receiver.spans if s.trace_id == saga.trace_id]
    (root,) = [s for s in spans if s.name == "saga book_flight"]
    names = [s.name for s in children(spans, root)]
    # The restarted process picked the saga up in the same trace, under the same root.
    assert "saga recovered after a restart" in names, names
    assert names.index("saga recovered after a restart") < names.index("Do confirm_booking")
    assert root.attributes["flightsaga.saga.status"] == pb.SagaStatus.Name(done.status)
