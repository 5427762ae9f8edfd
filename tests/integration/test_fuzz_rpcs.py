"""Property-based fuzzing of every RPC of every service (hypothesis), on a real stack.

Requests are built from each method's protobuf descriptor: every field, nested messages,
repeated fields, unknown enum values, edge integers and floats, strings that broke things
before (control characters, non-ASCII digits, 10k characters, huge numbers), now and then bytes
that do not parse, and fault/idempotency metadata. The `fuzz` fixture runs it on a plaintext
stack and on a secured one.
"""

from __future__ import annotations

import asyncio
import math
import os
import threading
import time
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import grpc
import pytest
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaos import invariants
from chaos.plan import BookingSpec
from chaos.records import list_sagas, read_balances, read_flights, read_participants
from flightsaga.v1 import (
    booking_pb2,
    loyalty_pb2,
    orchestrator_pb2,
    payment_pb2,
    seat_pb2,
)
from flightsaga.v1 import orchestrator_pb2 as pb
from sagakit.auth import new_token
from sagakit.channels import open_channel
from tests.support.dates import flight_date, flight_id
from tests.support.stack import Stack, running_stack, tls_for
from tooling.certs import make_certs

pytestmark = pytest.mark.timeout(240)

T = TypeVar("T")
# Bounded for CI: calls per service (100: 500 calls in all, a few seconds).
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "100"))
CALL_TIMEOUT = 3.0
SERVICES = {
    "orchestrator": orchestrator_pb2.DESCRIPTOR.services_by_name["Orchestrator"],
    "seat_service": seat_pb2.DESCRIPTOR.services_by_name["SeatService"],
    "loyalty_service": loyalty_pb2.DESCRIPTOR.services_by_name["LoyaltyService"],
    "payment_service": payment_pb2.DESCRIPTOR.services_by_name["PaymentService"],
    "booking_service": booking_pb2.DESCRIPTOR.services_by_name["BookingService"],
}
FLIGHTS = [flight_id("FS101", 1), flight_id("FS103", 1), flight_id("FS102", 8)]
ACCOUNTS = ["LOY-1001", "LOY-1002"]
# Values that meant something to the services, or that broke them once.
SHARP_STRINGS = [
    "",
    " ",
    *FLIGHTS,
    *ACCOUNTS,
    "4242424242424242",
    "4000000000000002",
    "424242424242424²",
    "４２４２４２４２４２４２４２４２",
    "12A",
    "1A",
    "123",
    "abc",
    "USD",
    "EUR",
    "x" * 10_000,
    "\x00\x1f\x7f",
    "999999999999999999999999999999",
    "-1",
    "nan",
    "inf",
    "1e400",
    flight_date(1),
    "2026-02-30",
    "../../etc/passwd",
    "'; DROP TABLE sagas; --",
]
ASCII = st.characters(min_codepoint=32, max_codepoint=126)
SHARP_META = [
    "payment",
    "seat,loyalty,payment,booking",
    "nosuchstep",
    "payment:transient=2",
    "payment:delay=inf",
    "payment:delay=1e400",
    "seat:transient=99999999999999999999",
    "booking:lost-reply",
    "loyalty:compensate-fail=1",
    "do",
    "compensate",
    ":::",
]
INT_EDGES = [0, 1, -1, 2**31 - 1, -(2**31), 2**63 - 1, -(2**63), 12, 13, 2031, 9999, 1000]


def _scalar(f: FieldDescriptor) -> st.SearchStrategy[Any]:
    t = f.type
    if t == FieldDescriptor.TYPE_STRING:
        return st.one_of(st.sampled_from(SHARP_STRINGS), st.text(max_size=40))
    if t == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=40)
    if t == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if t == FieldDescriptor.TYPE_ENUM:
        return st.integers(-2, 12)  # proto3 enums are open: unknown numbers too
    if t in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return st.one_of(st.floats(allow_nan=True), st.sampled_from([math.inf, -0.0, 1e308]))
    unsigned = t in (
        FieldDescriptor.TYPE_UINT32,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_FIXED32,
        FieldDescriptor.TYPE_FIXED64,
    )
    bits = (
        32
        if t
        in (
            FieldDescriptor.TYPE_INT32,
            FieldDescriptor.TYPE_UINT32,
            FieldDescriptor.TYPE_SINT32,
            FieldDescriptor.TYPE_FIXED32,
            FieldDescriptor.TYPE_SFIXED32,
        )
        else 64
    )
    lo, hi = (0, 2**bits - 1) if unsigned else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    edges = [v for v in INT_EDGES if lo <= v <= hi] + [hi]
    return st.one_of(st.sampled_from(edges), st.integers(lo, hi))


def message_strategy(desc: Descriptor, depth: int = 0) -> st.SearchStrategy[Message]:
    """Any message of this type: each field set or not, recursively (3 levels)."""
    cls = message_factory.GetMessageClass(desc)
    parts: dict[str, st.SearchStrategy[Any]] = {}
    for f in desc.fields:
        if f.type == FieldDescriptor.TYPE_MESSAGE:
            if depth >= 3 or f.message_type.GetOptions().map_entry:
                continue
            one: st.SearchStrategy[Any] = st.deferred(
                lambda d=f.message_type: message_strategy(d, depth + 1)
            )
        else:
            one = _scalar(f)
        repeated = f.is_repeated
        parts[f.name] = st.lists(one, max_size=3) if repeated else one

    def build(values: dict[str, Any]) -> Message:
        msg = cls()
        for name, value in values.items():
            f = desc.fields_by_name[name]
            target = getattr(msg, name) if f.type == FieldDescriptor.TYPE_MESSAGE else None
            if f.is_repeated:
                getattr(msg, name).extend(value)
            elif target is not None:
                target.CopyFrom(value)
            else:
                setattr(msg, name, value)
        return msg

    return st.fixed_dictionaries({}, optional=parts).map(build)


def metadata_strategy() -> st.SearchStrategy[list[tuple[str, str]]]:
    value = st.one_of(st.sampled_from(SHARP_META), st.text(ASCII, max_size=30))
    key = st.sampled_from(["x-fail-at", "x-fault", "x-fail", "x-correlation-id"])
    # On the secured stack the token decides (TOKENS: a role's, or garbage).
    auth = st.sampled_from(["Bearer @booker", "Bearer @reader", "Bearer @operator"]) | st.text(
        ASCII, max_size=30
    ).map(lambda t: f"Bearer {t}")
    return st.tuples(st.lists(st.tuples(key, value), max_size=2), auth).map(
        lambda parts: [*parts[0], ("authorization", parts[1])]
    )


@dataclass(frozen=True)
class Call:
    method: MethodDescriptor
    body: bytes
    metadata: list[tuple[str, str]]
    saga_id: str  # the request's saga_id, when it has one


def calls(service: str) -> st.SearchStrategy[Call]:
    methods = list(SERVICES[service].methods)

    def for_method(m: MethodDescriptor) -> st.SearchStrategy[Call]:
        body = st.one_of(
            message_strategy(m.input_type),
            # Now and then bytes that are not this message (or not protobuf at all).
            st.binary(min_size=1, max_size=24),
        )
        return st.builds(
            lambda b, md: Call(
                m,
                b if isinstance(b, bytes) else b.SerializeToString(),
                md,
                getattr(b, "saga_id", "") if isinstance(b, Message) else "",
            ),
            body,
            metadata_strategy(),
        )

    return st.sampled_from(methods).flatmap(for_method)


@dataclass
class FuzzStack:
    """The real stack on a background event loop, so hypothesis can drive it synchronously."""

    data_dir: Path
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    stack: Stack | None = None
    answers: dict[str, int] = field(default_factory=dict)  # status code name -> count
    bad: list[str] = field(default_factory=list)  # UNKNOWN / INTERNAL answers
    do_ids: dict[str, set[str]] = field(default_factory=dict)  # service -> Do saga ids
    certs: Path | None = None  # the secured stack: mTLS and AUTH_TOKENS_FILE
    tokens: dict[str, str] = field(default_factory=dict)  # "Bearer @role" -> a real header

    def channel(self, service: str) -> grpc.aio.Channel:
        """The fuzzer's channel: plaintext, or mTLS with the client certificate."""
        return open_channel(self.addr(service), tls_for(self.certs, "client"), token="")

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 120.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def addr(self, service: str) -> str:
        assert self.stack is not None
        if service == "orchestrator":
            return self.stack.orchestrator_addr
        return self.stack.addrs[service]

    async def call(self, service: str, c: Call) -> None:
        assert self.stack is not None
        path = f"/{SERVICES[service].full_name}/{c.method.name}"
        channel = self._channels[service]
        md = [(k, self.tokens.get(v, v)) for k, v in c.metadata]
        if c.method.name == "BookFlight":
            # One saga per call: its idempotency key is the fuzzer's, never a shared one.
            md.append(("x-idempotency-key", f"fuzz-{uuid.uuid4().hex}"))
        try:
            if c.method.server_streaming:
                stream = channel.unary_stream(path)(c.body, timeout=CALL_TIMEOUT, metadata=md)
                async for _ in stream:
                    pass
            else:
                await channel.unary_unary(path)(c.body, timeout=CALL_TIMEOUT, metadata=md)
            code = grpc.StatusCode.OK
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            # A compensation failure the call itself injected (x-fail / x-fault) answers
            # INTERNAL on purpose: the orchestrator retries it (docs/api.md#fault-injection).
            injected = "(fault injection)" in (exc.details() or "") and any(
                k in ("x-fail", "x-fault") for k, _ in md
            )
            if code in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL) and not injected:
                self.bad.append(f"{path} {md} {c.body[:200]!r}: {code.name} {exc.details()}")
        self.answers[code.name] = self.answers.get(code.name, 0) + 1
        if c.method.name == "Do" and c.saga_id and code != grpc.StatusCode.PERMISSION_DENIED:
            # It may have run (a refusal by certificate never does): compensated at the end.
            self.do_ids.setdefault(service, set()).add(c.saga_id)

    async def open(self) -> None:
        self._channels = {s: self.channel(s) for s in SERVICES}

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()


@pytest.fixture(scope="module", params=["plaintext", "mtls+tokens"])
def fuzz(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[FuzzStack]:
    """The stack as `make up` runs it (auth off: every handler is reached), and secured (the
    interceptors meet the fuzz first: tokens of every role, garbage, a client certificate)."""
    f = FuzzStack(tmp_path_factory.mktemp("fuzz"))
    env: dict[str, str] = {}
    if request.param == "mtls+tokens":
        f.certs = f.data_dir / "certs"
        make_certs(f.certs)
        lines = []
        for role in ("booker", "reader", "operator"):
            token, line = new_token(f"fuzz-{role}", role)
            f.tokens[f"Bearer @{role}"] = f"Bearer {token}"
            lines.append(line)
        (f.data_dir / "tokens.txt").write_text("\n".join(lines) + "\n")
        env["AUTH_TOKENS_FILE"] = str(f.data_dir / "tokens.txt")
    thread = threading.Thread(target=f.loop.run_forever, daemon=True)
    thread.start()
    stop = asyncio.Event()
    ready: asyncio.Future[None] = f.loop.create_future()

    # The checks after the fuzz read everything: the operator's token on the secured stack.
    operator = f.tokens.get("Bearer @operator", "").removeprefix("Bearer ")

    async def serve() -> None:
        async with running_stack(f.data_dir, certs=f.certs, token=operator, **env) as stack:
            f.stack = stack
            await f.open()
            f.loop.call_soon(ready.set_result, None)
            await stop.wait()
            await f.close()

    main = asyncio.run_coroutine_threadsafe(serve(), f.loop)

    async def started() -> None:
        await ready

    f.run(started(), 60)
    try:
        yield f
    finally:
        f.loop.call_soon_threadsafe(stop.set)
        main.result(60)
        f.loop.call_soon_threadsafe(f.loop.stop)
        thread.join(10)
        f.loop.close()


async def settle(stack: Stack, timeout: float = 90.0) -> None:
    """Every saga terminal: wait, resuming FAILED ones without their faults (the operator's
    move), as the chaos campaign does before it checks."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        stats = await stack.orchestrator.GetStats(pb.GetStatsRequest(), timeout=10)
        if stats.failed:
            page = await stack.orchestrator.ListSagas(
                pb.ListSagasRequest(status=pb.FAILED, page_size=200), timeout=10
            )
            for s in page.sagas:
                await stack.orchestrator.ResumeSaga(
                    pb.ResumeSagaRequest(saga_id=s.saga_id, clear_faults=True), timeout=30
                )
        elif stats.running == 0 and stats.compensating == 0:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"sagas still live after {timeout}s: {stats}")


async def compensate_fuzzed_dos(f: FuzzStack) -> None:
    """What the orchestrator does for a saga it gave up on: Compensate every step it sent."""
    assert f.stack is not None
    stubs = {
        "seat_service": f.stack.seat,
        "loyalty_service": f.stack.loyalty,
        "payment_service": f.stack.payment,
        "booking_service": f.stack.booking,
    }
    for service, ids in f.do_ids.items():
        compensate = SERVICES[service].methods_by_name["Compensate"]
        cls = message_factory.GetMessageClass(compensate.input_type)
        for saga_id in ids:
            try:
                await stubs[service].Compensate(cls(saga_id=saga_id), timeout=10)
            except grpc.aio.AioRpcError as exc:
                # A saga id the service refused as malformed never had a Do to undo.
                assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT, (service, saga_id, exc)


async def evidence(stack: Stack, before: tuple[Any, Any]) -> invariants.Evidence:
    sagas = await list_sagas(stack)  # type: ignore[arg-type]
    specs, legs = {}, {}
    for s in sagas.values():
        if s.status == "COMPLETED":
            req = (await stack.orchestrator.GetSaga(pb.GetSagaRequest(saga_id=s.saga_id))).request
            specs[s.key] = BookingSpec(
                key=s.key,
                phase=0,
                flights=(),
                passengers=len(req.passengers),
                account=req.customer_id,
                points=req.loyalty_points,
                card="",
                fail_at="",
                fault="",
                expect="COMPLETED",
            )
            legs[s.key] = list(req.flight_ids)
    records = await read_participants(stack, sagas)  # type: ignore[arg-type]
    flights_before, balances_before = before
    return invariants.Evidence(
        sagas=sagas,
        records=records,
        specs=specs,
        legs=legs,
        calls=[],
        key_prefix="",  # every saga here was the fuzzer's
        flights_before=flights_before,
        flights_after=await read_flights(stack, FLIGHTS),  # type: ignore[arg-type]
        balances_before=balances_before,
        balances_after=await read_balances(stack, ACCOUNTS),  # type: ignore[arg-type]
    )


def fuzz_service(fuzz: FuzzStack, service: str) -> None:
    """EXAMPLES calls to `service`'s methods, chosen and shaped by hypothesis."""

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,  # the same calls on every run: a CI failure reproduces
        suppress_health_check=list(HealthCheck),
    )
    @given(c=calls(service))
    def one(c: Call) -> None:
        fuzz.run(fuzz.call(service, c), 30)

    one()


def test_every_rpc_of_every_service_survives_fuzzing(fuzz: FuzzStack) -> None:
    """Three properties hold after the fuzzing.

    - no answer is UNKNOWN or INTERNAL (a bad request is the caller's error, named as such),
      but for an INTERNAL the call asked for (an injected compensation failure, which the
      orchestrator must retry: docs/api.md#fault-injection);
    - every service still reports SERVING afterwards;
    - the cross-service invariants of the chaos campaign (chaos/invariants.py) hold once every
      saga has settled and every saga id the fuzzer sent to a participant's Do has been
      compensated (as the orchestrator would for a saga it abandoned): seats, points, money and
      bookings agree."""
    assert fuzz.stack is not None
    stack = fuzz.stack

    async def snapshot() -> tuple[Any, Any]:
        return (
            await read_flights(stack, FLIGHTS),  # type: ignore[arg-type]
            await read_balances(stack, ACCOUNTS),  # type: ignore[arg-type]
        )

    before = fuzz.run(snapshot())
    for service in SERVICES:
        fuzz_service(fuzz, service)

    assert not fuzz.bad, "UNKNOWN/INTERNAL answers:\n" + "\n".join(fuzz.bad[:20])

    async def health() -> dict[str, str]:
        out = {}
        for service in SERVICES:
            async with fuzz.channel(service) as channel:
                reply = await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=5
                )
            out[service] = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
        return out

    assert set(fuzz.run(health()).values()) == {"SERVING"}

    fuzz.run(settle(stack), 120)
    fuzz.run(compensate_fuzzed_dos(fuzz), 120)
    violations = invariants.check(fuzz.run(evidence(stack, before)))
    assert not violations, "\n".join(str(v) for v in violations[:20])
    # The fuzzer reached past validation too, not only refusals (figures in the report).
    print(f"fuzz answers by status: {dict(sorted(fuzz.answers.items()))}")
    assert sum(fuzz.answers.values()) >= len(SERVICES) * EXAMPLES
