"""A busy orchestrator refuses new sagas at once (SAGA_MAX_IN_FLIGHT=1, one saga held by a
`delay` fault): RESOURCE_EXHAUSTED with a RetryInfo, seen by the Python client, the real
grpcurl, the CLI and the dashboard's API, before the request is read; replays (key in the
metadata or the body), reads and cancels still answered; auth still answered first; nothing
left behind by a refused call."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import pytest
from google.protobuf import json_format

from flightsaga.v1 import orchestrator_pb2 as pb
from orchestrator.client import OrchestratorClient, error_details
from sagakit.auth import new_token
from tests.integration.test_security import stub
from tests.support.booking import book_request, first_flight
from tests.support.dashboard_stack import dashboard_config, running_dashboard
from tests.support.stack import Stack, running_stack

GRPCURL = str(Path(sys.executable).parent / "grpcurl")
RESOURCE_EXHAUSTED_EXIT = 64 + 8  # grpcurl exits 64 + the status code
EXIT_BUSY = 5
BUSY = "The orchestrator is busy: retry later (in about 1 s)"


@dataclass
class Busy:
    stack: Stack
    http: httpx.AsyncClient
    flight: str
    held: pb.Saga  # the one saga in flight
    held_request: pb.StartBookingRequest


async def hold_one(stack: Stack, flight: str) -> tuple[pb.Saga, pb.StartBookingRequest]:
    request = pb.StartBookingRequest(request_id="held-1", booking=book_request([flight]))
    held = await stack.orchestrator.StartBooking(
        request, metadata=(("x-fault", "payment:delay=50000"),), timeout=10
    )
    assert held.status == pb.RUNNING
    return held, request


@pytest.fixture
async def busy(tmp_path: Path) -> AsyncIterator[Busy]:
    async with (
        running_stack(tmp_path, SAGA_MAX_IN_FLIGHT="1", STEP_TIMEOUT_MS="60000") as stack,
        running_dashboard(dashboard_config(stack)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        flight = await first_flight(stack)
        held, request = await hold_one(stack, flight)
        yield Busy(stack, http, flight, held, request)


async def saga_total(stack: Stack) -> int:
    page: pb.ListSagasResponse = await stack.orchestrator.ListSagas(
        pb.ListSagasRequest(), timeout=5
    )
    return page.total


async def test_the_python_client_sees_resource_exhausted_with_retry_info(busy: Busy) -> None:
    async with OrchestratorClient(busy.stack.orchestrator_addr, timeout=10) as client:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await client.book(book_request([busy.flight]), idempotency_key="new-1")
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    details = error_details(info.value)
    assert (details.reason, details.domain) == ("OVERLOADED", "flightsaga")
    assert details.retry_after == 1.0
    assert BUSY in (info.value.details() or "")
    assert await saga_total(busy.stack) == 1  # the refused call left no saga behind


async def test_replays_reads_and_cancels_are_still_answered(busy: Busy) -> None:
    orch = busy.stack.orchestrator
    replay = await orch.StartBooking(busy.held_request, timeout=10)
    assert (replay.saga_id, replay.replayed) == (busy.held.saga_id, True)
    got = await orch.GetSaga(pb.GetSagaRequest(saga_id=busy.held.saga_id), timeout=5)
    assert got.status == pb.RUNNING
    await orch.GetStats(pb.GetStatsRequest(), timeout=5)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await orch.StartSaga(
            pb.StartSagaRequest(
                saga="book_flight",
                request_id="new-2",
                input=json_format.ParseDict(
                    json_format.MessageToDict(book_request([busy.flight])),
                    pb.StartSagaRequest().input,
                ),
            ),
            timeout=10,
        )
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    cancelled = await orch.CancelSaga(
        pb.CancelSagaRequest(saga_id=busy.held.saga_id, reason="test"), timeout=10
    )
    assert cancelled.saga_id == busy.held.saga_id


async def run(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_grpcurl_shows_the_status_and_its_retry_info(busy: Busy) -> None:
    body = json_format.MessageToJson(book_request([busy.flight]))
    code, out, err = await run(
        GRPCURL, "-plaintext", "-max-time", "10", "-format-error", "-d", body,
        busy.stack.orchestrator_addr, "flightsaga.v1.Orchestrator/BookFlight",
    )  # fmt: skip
    assert code == RESOURCE_EXHAUSTED_EXIT, (out, err)
    shown = json.loads(out or err)
    assert shown["code"] == 8 and BUSY in shown["message"]
    kinds = {d["@type"].rsplit("/", 1)[1]: d for d in shown["details"]}
    assert kinds["google.rpc.ErrorInfo"]["reason"] == "OVERLOADED"
    assert kinds["google.rpc.RetryInfo"]["retry_delay"] == "1s", shown
    assert await saga_total(busy.stack) == 1


async def test_the_cli_says_retry_later_and_exits_5(busy: Busy) -> None:
    addr = busy.stack.orchestrator_addr
    code, out, err = await run(
        sys.executable, "-m", "cli", "--orchestrator", addr, "--seat",
        busy.stack.addrs["seat_service"], "book", "--flight", busy.flight,
    )  # fmt: skip
    assert code == EXIT_BUSY, (out, err)
    assert BUSY in err
    assert await saga_total(busy.stack) == 1


async def test_the_dashboard_api_answers_429_with_retry_after(busy: Busy) -> None:
    from tests.integration.test_dashboard_api import booking

    reply = await busy.http.post("/api/bookings", json=booking(flight_ids=[busy.flight]))
    assert reply.status_code == 429, reply.text
    assert reply.headers["retry-after"] == "1"
    assert reply.json()["error"] == BUSY
    assert reply.json()["reason"] == "OVERLOADED"
    assert await saga_total(busy.stack) == 1


async def test_a_bookflight_replay_by_its_metadata_key_is_answered(busy: Busy) -> None:
    held = busy.held_request
    replay = await busy.stack.orchestrator.BookFlight(
        held.booking, metadata=(("x-idempotency-key", held.request_id),), timeout=1.5
    )  # answered with the saga as it stands a little before the deadline (still held)
    assert (replay.saga_id, replay.replayed) == (busy.held.saga_id, True)


async def bytes_to(
    busy: Busy, method: str, body: bytes, *md: tuple[str, str]
) -> grpc.aio.AioRpcError:
    """What the orchestrator answers `body` sent as-is to `method`."""
    async with grpc.aio.insecure_channel(busy.stack.orchestrator_addr) as channel:
        raw = channel.unary_unary(
            f"/flightsaga.v1.Orchestrator/{method}",
            request_serializer=lambda b: b,
            response_deserializer=pb.Saga.FromString,
        )
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await raw(body, metadata=md, timeout=5)
    return info.value


@pytest.mark.parametrize("method", ["BookFlight", "StartBooking"])
async def test_a_new_saga_is_refused_before_its_body_is_read(busy: Busy, method: str) -> None:
    error = await bytes_to(busy, method, b"\xff\xff not a request")
    # Not read (BookFlight's key is in its metadata) or not readable (StartBooking's is in its
    # body): busy, not INVALID_ARGUMENT, which is the answer once there is room.
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error
    assert error_details(error).reason == "OVERLOADED"


async def test_bad_bytes_under_a_known_key_are_bad_input_even_when_full(busy: Busy) -> None:
    key = ("x-idempotency-key", busy.held_request.request_id)
    error = await bytes_to(busy, "BookFlight", b"\xff\xff not a request", key)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
    assert "request" in (error.details() or "")


async def test_a_full_orchestrator_still_answers_auth_first(tmp_path: Path) -> None:
    tokens = {name: new_token(name, roles) for name, roles in (("ops", "operator"),
              ("ann", "booker"), ("rita", "reader"))}  # fmt: skip
    path = tmp_path / "tokens.txt"
    path.write_text("".join(line + "\n" for _, line in tokens.values()))
    async with running_stack(
        tmp_path, token=tokens["ops"][0], AUTH_TOKENS_FILE=str(path),
        SAGA_MAX_IN_FLIGHT="1", STEP_TIMEOUT_MS="60000",
    ) as stack:  # fmt: skip
        flight = await first_flight(stack)
        await hold_one(stack, flight)

        async def code(token: str, *md: tuple[str, str]) -> grpc.StatusCode:
            try:
                await stub(stack, token).BookFlight(book_request([flight]), metadata=md, timeout=5)
            except grpc.aio.AioRpcError as exc:
                return exc.code()
            return grpc.StatusCode.OK

        assert await code("") == grpc.StatusCode.UNAUTHENTICATED
        assert await code("not-a-token") == grpc.StatusCode.UNAUTHENTICATED
        assert await code(tokens["rita"][0]) == grpc.StatusCode.PERMISSION_DENIED
        fault = ("x-fault", "payment:delay=100")
        assert await code(tokens["ann"][0], fault) == grpc.StatusCode.PERMISSION_DENIED
        assert await code(tokens["ann"][0]) == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert await saga_total(stack) == 1
