"""docs/extending.md, applied and run: travel insurance as a fifth step, version 2 of the booking
saga, deployed while sagas of version 1 are in flight.

The page's code blocks are applied to a copy of the repository (tests/support/walkthrough.py)
and protoc is run there.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import json_format

from flightsaga.v1 import loyalty_pb2, orchestrator_pb2_grpc, seat_pb2
from flightsaga.v1 import orchestrator_pb2 as pb
from launcher.supervisor import code_env
from sagas import services
from sagas.booking import STEP_ORDER
from tests.e2e.conftest import local_only
from tests.e2e.tools import BIN, GRPCURL, REPO, ROUTE
from tests.support import walkthrough
from tests.support.booking import book_request, proof
from tests.support.procs import ServiceProcess, free_port
from tests.support.stack import Stack, orchestrator_env

pytestmark = [pytest.mark.e2e, local_only]

DOC = REPO / "docs" / "extending.md"
SERVICE = "insurance_service"
V1 = list(STEP_ORDER)
V2 = [*V1, "buy_insurance"]
IN_FLIGHT = 4
HOLD_MS = 4000  # the payment step holds each v1 saga this long (its x-fault delay)
CUSTOMER = "LOY-1004"
POINTS = 100


# ---- the copy: the page applied ------------------------------------------------------------


def applied_copy(dest: Path) -> Path:
    """The repository copied to `dest` with the page's steps applied and its code generated;
    checks that the page lists exactly the files it touches outside the service's folder."""
    tracked = walkthrough.copy_tree(REPO, dest)
    text = DOC.read_text()
    walkthrough.apply(walkthrough.parse(text), dest, walkthrough.protoc(sys.executable, BIN))
    outside = {f for f in walkthrough.touched(REPO, dest, tracked) if not f.startswith(SERVICE)}
    by_hand = {f for f in outside if not walkthrough.GENERATED.search(f)}
    listed = walkthrough.listed(text)
    assert len(by_hand) <= 6, f"the walkthrough edits {len(by_hand)} files outside {SERVICE}/"
    assert by_hand == listed.by_hand, "docs/extending.md's table lists other files"
    assert outside - by_hand == listed.generated, "the generated files differ from the table's"
    return dest


async def output(*argv: str, cwd: Path) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), 120)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    return proc.returncode or 0, out.decode(errors="replace")


async def checks_of_the_copy(copy: Path) -> list[str]:
    """The page's code as the repository's checks see it: lint, types, its unit test."""
    failed = []
    for argv in (
        [str(BIN / "ruff"), "check", "--no-cache", "."],
        [str(BIN / "ruff"), "format", "--no-cache", "--check", SERVICE, "sagas", "tests/unit"],
        [str(BIN / "mypy"), "--cache-dir", str(copy.parent / "mypy"), "-p", SERVICE, "-p", "sagas"],
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/unit/test_insurance_policies.py"],
    ):  # fmt: skip
        code, out = await output(*argv, cwd=copy)
        if code != 0:
            command = " ".join([Path(argv[0]).name, *argv[1:]])
            failed.append(f"in the copy, `{command}` exited {code}:\n{out[-3000:]}")
    return failed


# ---- the stack --------------------------------------------------------------------------------


async def grpcurl(addr: str, method: str, body: dict[str, Any]) -> dict[str, Any]:
    code, out = await output(GRPCURL, "-plaintext", "-d", json.dumps(body), addr, method, cwd=REPO)
    assert code == 0, out
    found: dict[str, Any] = json.loads(out)
    return found


async def policies(insurance: str, saga_id: str) -> dict[str, Any]:
    return await grpcurl(
        insurance, "flightsaga.v1.InsuranceService/GetPolicies", {"saga_id": saga_id}
    )


@contextlib.asynccontextmanager
async def orchestrator_stub(addr: str) -> AsyncIterator[orchestrator_pb2_grpc.OrchestratorStub]:
    """A channel of its own per orchestrator process: one to a killed process would wait out
    its reconnect backoff."""
    async with grpc.aio.insecure_channel(addr) as channel:
        yield orchestrator_pb2_grpc.OrchestratorStub(channel)


async def started(procs: Iterable[ServiceProcess]) -> None:
    procs = list(procs)
    for p in procs:
        p.start()
    await asyncio.gather(*(p.wait_healthy(30) for p in procs))


async def saga_types(orch: orchestrator_pb2_grpc.OrchestratorStub) -> list[tuple[Any, ...]]:
    found = await orch.ListSagaTypes(pb.ListSagaTypesRequest(), timeout=5)
    return [(t.name, t.version, t.latest, [s.name for s in t.steps]) for t in found.sagas]


async def until(what: str, done: Any, timeout: float = 30.0) -> None:
    end = asyncio.get_running_loop().time() + timeout
    while not await done():
        if asyncio.get_running_loop().time() > end:
            raise AssertionError(f"not {what} after {timeout:.0f} s")
        await asyncio.sleep(0.1)


async def seats_available(stack: Stack, flight_id: str) -> int:
    origin, destination, date = ROUTE
    found = await stack.seat.SearchFlights(
        seat_pb2.SearchFlightsRequest(origin=origin, destination=destination, date=date)
    )
    return next(f.seats_available for f in found.outbound if f.flight_id == flight_id)


async def balance(stack: Stack) -> int:
    account = await stack.loyalty.GetAccount(loyalty_pb2.GetAccountRequest(account_id=CUSTOMER))
    return account.balance


def step_states(saga: pb.Saga) -> dict[str, str]:
    return {s.name: pb.StepState.Name(s.state) for s in saga.steps}


async def test_the_walkthrough_adds_a_fifth_step_as_v2_while_v1_sagas_finish_as_v1(
    tmp_path: Path,
) -> None:
    """The repository's own stack (v1 only: the four participants and the orchestrator, real
    processes on 127.0.0.1 with SQLite files) starts bookings that the payment step holds; the
    orchestrator is killed with kill -9 and started again on its saga log from the copy (v1 and
    v2), beside the copy's insurance service. The v1 sagas finish as v1; a new booking runs v2's
    five steps; one failing at the new step compensates the four before it, last first. Outcomes
    are checked against the participants' own records (the insurance service's through grpcurl:
    this process has no generated code for it)."""
    copy = applied_copy(tmp_path / "copy")
    checks = asyncio.create_task(checks_of_the_copy(copy))
    data = tmp_path / "data"
    data.mkdir()

    def sqlite(name: str) -> str:
        return f"sqlite:///{data / name}.db"

    service_env = {"FAULT_INJECTION": "enabled"}
    participants = [
        ServiceProcess(
            p.package,
            free_port(),
            {**service_env, "DATABASE_URL": sqlite(p.database)},
            data / f"{p.package}.log",
            cwd=REPO,
        )
        for p in services.PARTICIPANTS
    ]
    addrs = {p.module: p.addr for p in participants}
    orch_port = free_port()

    def orchestrator(cwd: Path, **extra: str) -> ServiceProcess:
        env = orchestrator_env(
            addrs,
            data,
            **service_env,
            SAGAS="sagas.booking",
            DATABASE_URL=sqlite("orchestrator"),
            STEP_TIMEOUT_MS=str(2 * HOLD_MS),
            **extra,
        )
        return ServiceProcess("orchestrator", orch_port, env, data / "orchestrator.log", cwd=cwd)

    insurance = ServiceProcess(
        SERVICE,
        free_port(),
        {**service_env, "DATABASE_URL": sqlite(SERVICE), **code_env(copy)},
        data / f"{SERVICE}.log",
        cwd=copy,
    )
    old = orchestrator(REPO)
    new = orchestrator(copy, INSURANCE_SERVICE_ADDR=insurance.addr, **code_env(copy))
    everything = [*participants, old, insurance, new]
    stack: Stack | None = None
    try:
        # ---- the repository's stack: v1 only; bookings held at the payment step, kill -9 ----
        await started([*participants, old])
        stack = Stack(old.addr, addrs, data)
        flight_id = (
            (
                await stack.seat.SearchFlights(
                    seat_pb2.SearchFlightsRequest(
                        origin=ROUTE[0], destination=ROUTE[1], date=ROUTE[2]
                    )
                )
            )
            .outbound[0]
            .flight_id
        )
        seats_before, balance_before = await seats_available(stack, flight_id), await balance(stack)
        request = book_request([flight_id], customer=CUSTOMER, points=POINTS)
        async with orchestrator_stub(old.addr) as orch:
            assert await saga_types(orch) == [("book_flight", 1, True, V1)]
            held = await asyncio.gather(
                *(
                    orch.StartBooking(
                        pb.StartBookingRequest(request_id=f"v1-{i}", booking=request),
                        metadata=(("x-fault", f"payment:delay={HOLD_MS}"),),
                        timeout=10,
                    )
                    for i in range(IN_FLIGHT)
                )
            )
            ids = [s.saga_id for s in held]

            async def all_at_payment() -> bool:
                sagas = [await orch.GetSaga(pb.GetSagaRequest(saga_id=i), timeout=5) for i in ids]
                assert all(s.status == pb.RUNNING for s in sagas), "a v1 saga ended before the kill"
                return all(step_states(s)["process_payment"] == "EXECUTING" for s in sagas)

            await until("every v1 saga at its payment step", all_at_payment, HOLD_MS / 1000)
        old.kill9()

        # ---- the copy: v1 and v2 served, the insurance service beside them ------------------
        await started([insurance])
        await started([new])
        async with orchestrator_stub(new.addr) as orch:
            assert await saga_types(orch) == [
                ("book_flight", 1, False, V1),
                ("book_flight", 2, True, V2),
            ]

            async def v1_finished() -> bool:
                sagas = [await orch.GetSaga(pb.GetSagaRequest(saga_id=i), timeout=5) for i in ids]
                return all(s.status not in (pb.RUNNING, pb.COMPENSATING) for s in sagas)

            await until("every v1 saga finished", v1_finished, 30 + HOLD_MS / 1000)
            for saga_id in ids:
                saga = await orch.GetSaga(pb.GetSagaRequest(saga_id=saga_id), timeout=5)
                assert (saga.saga, saga.saga_version) == ("book_flight", 1), saga_id
                assert pb.SagaStatus.Name(saga.status) == "COMPLETED", saga
                assert step_states(saga) == dict.fromkeys(V1, "SUCCEEDED")
                p = await proof(stack, saga_id)
                assert (p.seats_held, p.points_delta, p.charges, p.refunds) == (1, -POINTS, 1, 0)
                assert p.booking_status == "CONFIRMED"
                assert await policies(insurance.addr, saga_id) == {"saga_id": saga_id}

            # A new booking: version 2, five steps, a policy for it.
            insured = await orch.BookFlight(
                request, metadata=(("x-idempotency-key", "v2-insured"),), timeout=30
            )
            assert (insured.saga_version, pb.SagaStatus.Name(insured.status)) == (2, "COMPLETED")
            assert step_states(insured) == dict.fromkeys(V2, "SUCCEEDED")
            policy_id = json_format.MessageToDict(insured.steps[-1].result)["policy_id"]
            held_by_insurance = await policies(insurance.addr, insured.saga_id)
            (policy,) = held_by_insurance["policies"]
            assert policy["policy_id"] == policy_id
            assert (policy["status"], policy["customer_id"], policy["passengers"]) == (
                "ACTIVE",
                CUSTOMER,
                1,
            )
            assert int(policy["fare_cents"]) == insured.fare_cents > 0
            assert int(policy["premium_cents"]) == max(500, insured.fare_cents * 5 // 100)
            (mark,) = held_by_insurance["barrier"]
            assert (mark["step"], mark["do_done"], mark.get("compensated")) == (
                "buy_insurance",
                True,
                None,
            )

            # A v2 booking refused at the new step: the four before it compensated, last first.
            failed = await orch.BookFlight(
                request,
                metadata=(("x-idempotency-key", "v2-refused"), ("x-fail-at", "insurance")),
                timeout=30,
            )
        assert (failed.saga_version, pb.SagaStatus.Name(failed.status)) == (2, "COMPENSATED")
        assert list(failed.compensation_order) == list(reversed(V1))
        assert step_states(failed) == {
            **dict.fromkeys(V1, "COMPENSATED_STEP"),
            "buy_insurance": "STEP_FAILED",
        }
        p = await proof(stack, failed.saga_id)
        assert (p.seats_held, p.seats_released, p.points_delta) == (0, 1, 0)
        assert (p.charges, p.refunds, p.refunded_cents) == (1, 1, p.charged_cents)
        assert p.booking_status == "CANCELLED"
        # Its Do was refused before the barrier, and a refused step is not compensated.
        assert await policies(insurance.addr, failed.saga_id) == {"saga_id": failed.saga_id}

        # What the participants hold in all: the completed sagas' seats and points, no others.
        completed = IN_FLIGHT + 1
        assert await seats_available(stack, flight_id) == seats_before - completed
        assert await balance(stack) == balance_before - completed * POINTS
        assert "[SAGA] recovering" in (data / "orchestrator.log").read_text()

        # The new participant keeps the contract (docs/extending.md#try-it), as the copy's CLI says.
        code_path = [f"{k}={v}" for k, v in code_env(copy).items()]
        conform = ["conform", insurance.addr, "--step", "insurance"]
        code, out = await output("env", *code_path, sys.executable, "-m", "cli", *conform, cwd=copy)
        assert code == 0 and out.rstrip().endswith("conforms"), out

        failures = await checks
        assert not failures, "\n\n".join(failures)
    finally:
        if not checks.done():
            checks.cancel()
            with contextlib.suppress(BaseException):
                await checks
        if stack is not None:
            for channel in stack.channels:
                await channel.close()
        for proc in reversed(everything):
            proc.stop()
