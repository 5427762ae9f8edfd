"""CancelSaga over real gRPC, the whole stack running as real servers on SQLite files.

A saga is held in flight (its payment Do delayed at the payment service), cancelled, and
checked against the participants' own records: everything released or refunded, and the late
Do refused by the payment service's barrier.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import grpc
import pytest

from flightsaga.v1 import loyalty_pb2
from flightsaga.v1 import orchestrator_pb2 as pb
from sagakit.auth import new_token
from sagakit.errors import details_of
from tests.support.booking import book_request, first_flight, proof
from tests.support.cancel import (
    HOLD_MS,
    events,
    kinds,
    late_do_refused,
    paying,
    start_held,
    status,
    step_state,
    wait_for,
)
from tests.support.stack import Stack, running_stack

# A step deadline longer than the hold, so the held payment is one attempt in flight; and
# compensations retried long enough (about 3-6 s) to catch a saga COMPENSATING.
ENV = {"STEP_TIMEOUT_MS": "10000", "COMPENSATION_MAX_ATTEMPTS": "7"}


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path, **ENV) as s:
        yield s


@pytest.fixture
async def either(tmp_path: Path, database_url: Callable[[str], str]) -> AsyncIterator[Stack]:
    """The stack on SQLite files, then on a PostgreSQL server."""
    async with running_stack(tmp_path, urls=database_url, **ENV) as s:
        yield s


async def cancel(stack: Stack, saga_id: str, reason: str = "customer called") -> pb.Saga:
    return await stack.orchestrator.CancelSaga(
        pb.CancelSagaRequest(saga_id=saga_id, reason=reason), timeout=10
    )


async def refusal(stack: Stack, saga_id: str, reason: str = "why") -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await cancel(stack, saga_id, reason)
    return caught.value


async def balance(stack: Stack) -> int:
    reply = await stack.loyalty.GetAccount(loyalty_pb2.GetAccountRequest(account_id="LOY-1001"))
    return int(reply.balance)


async def test_a_cancel_stops_a_saga_in_flight_compensates_it_and_the_late_do_is_refused(
    either: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    stack = either
    caplog.set_level(logging.INFO)
    before = await balance(stack)
    started = await start_held(stack, "held-1")
    await wait_for(stack.orchestrator, started.saga_id, paying)

    answered = await cancel(stack, started.saga_id)
    assert (answered.cancelled_by, answered.cancel_reason) == ("anonymous", "customer called")
    assert answered.HasField("cancelled_at")
    found = await events(stack.orchestrator, started.saga_id)
    saga = await wait_for(stack.orchestrator, started.saga_id, lambda s: s.HasField("finished_at"))

    assert status(saga) == "COMPENSATED"
    assert saga.error == "cancelled by anonymous: customer called"
    assert (saga.cancelled_by, saga.cancel_reason) == ("anonymous", "customer called")
    # The payment in flight may have run: compensated with the steps before it, last first.
    assert list(saga.compensation_order) == [
        "process_payment",
        "deduct_loyalty_points",
        "reserve_seat",
    ]
    assert step_state(saga, 3) == "SKIPPED"
    assert "SAGA_CONFIRMED" not in kinds(found) and "SAGA_COMPLETED" not in kinds(found)
    cancelled = [e for e in found if pb.SagaEventType.Name(e.type) == "SAGA_CANCELLED"]
    assert [e.message for e in cancelled] == ["cancelled by anonymous: customer called"]
    assert kinds(found)[-1] == "SAGA_COMPENSATED"
    # Every participant's own records: nothing held, spent or charged.
    p = await proof(stack, saga.saga_id)
    assert (p.seats_held, p.points_delta, p.charged_cents, p.booking_status) == (0, 0, 0, "")
    assert await balance(stack) == before
    # The held Do reaches the payment service after its compensation: refused, no charge.
    await asyncio.sleep(HOLD_MS / 1000 + 0.5)
    assert await late_do_refused(stack, saga.saga_id)
    assert "late Do refused" in caplog.text
    assert "[SAGA] cancel requested by anonymous: customer called" in caplog.text
    assert "[SAGA] cancelled by anonymous: customer called; compensating" in caplog.text


async def test_repeating_a_cancel_is_harmless_and_keeps_the_first_reason(stack: Stack) -> None:
    started = await start_held(stack, "held-2")
    await wait_for(stack.orchestrator, started.saga_id, paying)
    first = await cancel(stack, started.saga_id, "first")
    again = await cancel(stack, started.saga_id, "second")
    assert (first.cancel_reason, again.cancel_reason) == ("first", "first")
    saga = await wait_for(stack.orchestrator, started.saga_id, lambda s: s.HasField("finished_at"))
    assert status(saga) == "COMPENSATED"
    after = await cancel(stack, started.saga_id, "third")  # ended by this cancel: still OK
    assert (status(after), after.cancel_reason) == ("COMPENSATED", "first")
    found = await events(stack.orchestrator, saga.saga_id)
    assert kinds(found).count("SAGA_CANCELLED") == 1
    assert kinds(found).count("SAGA_COMPENSATED") == 1


async def test_a_saga_compensating_keeps_its_course_and_failed_points_to_resume(
    stack: Stack,
) -> None:
    flight = await first_flight(stack)
    req = pb.StartBookingRequest(request_id="stuck", booking=book_request([flight]))
    md = (("x-fail-at", "booking"), ("x-fault", "loyalty:compensate-fail=always"))
    started = await stack.orchestrator.StartBooking(req, metadata=md, timeout=20)
    saga_id = started.saga_id
    await wait_for(stack.orchestrator, saga_id, lambda s: status(s) == "COMPENSATING")

    answered = await cancel(stack, saga_id)
    assert status(answered) == "COMPENSATING"
    assert answered.cancelled_by == "" and answered.error.startswith("confirm_booking failed")

    failed = await wait_for(stack.orchestrator, saga_id, lambda s: status(s) == "FAILED")
    assert failed.cancelled_by == ""
    err = await refusal(stack, saga_id)
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert details_of(err).reason == "SAGA_NOT_CANCELLABLE"
    assert "is FAILED" in (err.details() or "") and "ResumeSaga" in (err.details() or "")

    resumed = await stack.orchestrator.ResumeSaga(
        pb.ResumeSagaRequest(saga_id=saga_id, clear_faults=True), timeout=20
    )
    assert status(resumed) == "COMPENSATED"
    err = await refusal(stack, saga_id)
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "is COMPENSATED" in (err.details() or "")


async def test_a_completed_saga_cannot_be_cancelled(stack: Stack) -> None:
    flight = await first_flight(stack)
    saga = await stack.orchestrator.BookFlight(book_request([flight]), timeout=30)
    assert status(saga) == "COMPLETED"
    err = await refusal(stack, saga.saga_id)
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert details_of(err).reason == "SAGA_NOT_CANCELLABLE"
    assert "is COMPLETED" in (err.details() or "")
    again = await stack.orchestrator.GetSaga(pb.GetSagaRequest(saga_id=saga.saga_id), timeout=5)
    assert status(again) == "COMPLETED" and again.cancelled_by == ""


@pytest.mark.parametrize(
    ("saga_id", "reason", "code", "field"),
    [
        ("no-such-saga", "why", grpc.StatusCode.NOT_FOUND, "saga_id"),
        ("", "why", grpc.StatusCode.INVALID_ARGUMENT, "saga_id"),
        ("no-such-saga", "", grpc.StatusCode.INVALID_ARGUMENT, "reason"),
        ("no-such-saga", "x" * 501, grpc.StatusCode.INVALID_ARGUMENT, "reason"),
        ("no-such-saga", "bad\x07bell", grpc.StatusCode.INVALID_ARGUMENT, "reason"),
    ],
)
async def test_bad_input_and_unknown_sagas_are_refused_naming_the_field(
    stack: Stack, saga_id: str, reason: str, code: grpc.StatusCode, field: str
) -> None:
    err = await refusal(stack, saga_id, reason)
    assert err.code() == code
    assert (err.details() or "").startswith(f"{field}:")
    assert details_of(err).field == field


async def test_only_an_operator_may_cancel_and_the_saga_records_who(tmp_path: Path) -> None:
    tokens, lines = {}, []
    for name, roles in (("ann", "booker"), ("rita", "reader"), ("olga", "operator")):
        tokens[name], line = new_token(name, roles)
        lines.append(line)
    (tmp_path / "tokens.txt").write_text("\n".join(lines) + "\n")
    env = {**ENV, "AUTH_TOKENS_FILE": str(tmp_path / "tokens.txt")}
    async with running_stack(tmp_path, **env) as stack:

        def as_(name: str) -> tuple[tuple[str, str], ...]:
            return (("authorization", f"Bearer {tokens[name]}"),)

        started = await start_held(stack, "held-auth", metadata=as_("olga"))
        await wait_for(stack.orchestrator, started.saga_id, paying, as_("olga"))
        request = pb.CancelSagaRequest(saga_id=started.saga_id, reason="fraud check")
        for name in ("ann", "rita"):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stack.orchestrator.CancelSaga(request, metadata=as_(name), timeout=10)
            assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
            assert "CancelSaga needs role operator" in (caught.value.details() or "")
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stack.orchestrator.CancelSaga(request, timeout=10)
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        answered = await stack.orchestrator.CancelSaga(request, metadata=as_("olga"), timeout=10)
        assert answered.cancelled_by == "olga"
        saga = await wait_for(
            stack.orchestrator, started.saga_id, lambda s: s.HasField("finished_at"), as_("olga")
        )
        assert status(saga) == "COMPENSATED"
        assert saga.error == "cancelled by olga: fraud check"
