"""The orchestrator over real gRPC with all five services running as real servers.

Each scenario is checked against the participants' own records, not only the saga record.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import grpc
import pytest

from flightsaga.v1 import common_pb2, loyalty_pb2
from flightsaga.v1 import orchestrator_pb2 as pb
from flightsaga.v1.common_pb2 import SagaRecordsRequest
from sagas.booking import STEP_ORDER
from tests.support.booking import DECLINED_CARD, book_request, first_flight, proof
from tests.support.stack import Stack, running_stack


@pytest.fixture
async def stack(tmp_path: Path, database_url: Callable[[str], str]) -> AsyncIterator[Stack]:
    """The whole stack, on SQLite files and on a PostgreSQL server (every test runs on both)."""
    async with running_stack(tmp_path, urls=database_url) as s:
        yield s


async def book(stack: Stack, req: pb.BookFlightRequest, **md: str) -> pb.Saga:
    metadata = tuple((k.replace("_", "-"), v) for k, v in md.items())
    return await stack.orchestrator.BookFlight(req, metadata=metadata, timeout=30)


def status(saga: pb.Saga) -> str:
    return pb.SagaStatus.Name(saga.status)


async def test_success_books_and_every_participant_agrees(stack: Stack) -> None:
    flight = await first_flight(stack)
    saga = await book(stack, book_request([flight], points=2500))
    assert status(saga) == "COMPLETED"
    assert len(saga.booking_reference) == 6
    assert [pb.StepState.Name(s.state) for s in saga.steps] == ["SUCCEEDED"] * 4
    assert list(saga.compensation_order) == []
    p = await proof(stack, saga.saga_id)
    assert (p.seats_held, p.points_delta, p.charges, p.refunds) == (1, -2500, 1, 0)
    assert p.charged_cents == saga.fare_cents - 2500 == saga.amount_charged_cents
    assert p.booking_status == "CONFIRMED"
    assert saga.request.card.number == "****4242"


@pytest.mark.parametrize("fail_index", range(4))
async def test_fail_at_each_step_compensates_earlier_steps_in_reverse(
    stack: Stack, fail_index: int
) -> None:
    flight = await first_flight(stack)
    before = await stack.loyalty.GetAccount(loyalty_pb2.GetAccountRequest(account_id="LOY-1001"))
    failing = STEP_ORDER[fail_index]
    saga = await book(stack, book_request([flight], points=1500), x_fail_at=failing)
    assert status(saga) == "COMPENSATED"
    assert list(saga.compensation_order) == list(reversed(STEP_ORDER[:fail_index]))
    assert pb.StepState.Name(saga.steps[fail_index].state) == "STEP_FAILED"
    assert failing in saga.error
    p = await proof(stack, saga.saga_id)
    assert p.seats_held == 0 and p.seats_released == (1 if fail_index > 0 else 0)
    assert p.points_delta == 0
    assert p.charged_cents == p.refunded_cents and p.refunds == (1 if fail_index > 2 else 0)
    assert p.booking_status == ""  # the injected failure at confirm_booking created nothing
    after = await stack.loyalty.GetAccount(loyalty_pb2.GetAccountRequest(account_id="LOY-1001"))
    assert after.balance == before.balance


async def test_sold_out_seat_compensates_nothing(stack: Stack) -> None:
    flight = await first_flight(stack)
    seat = [common_pb2.SeatSelection(flight_id=flight, passenger_index=0, seat="20A")]
    first = await book(stack, book_request([flight], seats=seat))
    assert status(first) == "COMPLETED"
    second = await book(stack, book_request([flight], seats=seat))
    assert status(second) == "COMPENSATED"
    assert "FAILED_PRECONDITION" in second.error and list(second.compensation_order) == []


async def test_short_balance_compensates_the_seat(stack: Stack) -> None:
    flight = await first_flight(stack)
    saga = await book(stack, book_request([flight], customer="LOY-1003", points=100))
    assert status(saga) == "COMPENSATED"
    assert list(saga.compensation_order) == ["reserve_seat"]
    assert (await proof(stack, saga.saga_id)).seats_held == 0


async def test_declined_card_refunds_points_and_releases_seat(stack: Stack) -> None:
    flight = await first_flight(stack)
    saga = await book(stack, book_request([flight], points=700, card=DECLINED_CARD))
    assert status(saga) == "COMPENSATED"
    assert "card_declined" in saga.error
    assert list(saga.compensation_order) == ["deduct_loyalty_points", "reserve_seat"]
    p = await proof(stack, saga.saga_id)
    assert (p.seats_held, p.points_delta, p.charges) == (0, 0, 0)


async def test_transient_failures_are_retried_and_the_saga_completes(stack: Stack) -> None:
    flight = await first_flight(stack)
    saga = await book(stack, book_request([flight]), x_fault="payment:transient=2")
    assert status(saga) == "COMPLETED"
    assert saga.steps[2].attempts == 3
    assert (await proof(stack, saga.saga_id)).charges == 1


async def test_lost_reply_after_commit_leaves_exactly_one_charge(stack: Stack) -> None:
    flight = await first_flight(stack)
    saga = await book(stack, book_request([flight]), x_fault="payment:lost-reply")
    assert status(saga) == "COMPLETED"
    assert saga.steps[2].attempts == 2
    p = await proof(stack, saga.saga_id)
    assert p.charges == 1 and p.charged_cents == saga.amount_charged_cents


async def test_delay_past_deadline_compensates_the_step_and_barrier_refuses_late_do(
    stack: Stack,
) -> None:
    flight = await first_flight(stack)
    saga = await book(stack, book_request([flight]), x_fault="payment:delay=4500")
    assert status(saga) == "COMPENSATED"
    assert list(saga.compensation_order) == [
        "process_payment",
        "deduct_loyalty_points",
        "reserve_seat",
    ]
    assert pb.StepState.Name(saga.steps[2].state) == "COMPENSATED_STEP"
    # Let every hanging Do (one per attempt) reach the payment service.
    await asyncio.sleep(4.5 + 0.5)
    records = await stack.payment.GetPayments(SagaRecordsRequest(saga_id=saga.saga_id))
    assert [e.kind for e in records.entries] == []
    mark = next(m for m in records.barrier if m.step == "process_payment")
    assert mark.null_compensation and not mark.do_done


async def test_compensation_failing_twice_is_retried_until_compensated(stack: Stack) -> None:
    flight = await first_flight(stack)
    saga = await book(
        stack, book_request([flight]), x_fail_at="booking", x_fault="payment:compensate-fail=2"
    )
    assert status(saga) == "COMPENSATED"
    assert saga.steps[2].compensation_attempts == 3
    p = await proof(stack, saga.saga_id)
    assert p.refunds == 1 and p.refunded_cents == p.charged_cents


async def test_compensation_always_failing_ends_failed_and_resume_finishes(stack: Stack) -> None:
    flight = await first_flight(stack)
    saga = await book(
        stack,
        book_request([flight], points=900),
        x_fail_at="booking",
        x_fault="loyalty:compensate-fail=always",
    )
    assert status(saga) == "FAILED"
    assert "needs an operator" in saga.error
    assert list(saga.compensation_order) == ["process_payment"]
    stats = await stack.orchestrator.GetStats(pb.GetStatsRequest())
    assert stats.failed == 1 and stats.compensations_pending == 2
    listed = await stack.orchestrator.ListSagas(pb.ListSagasRequest(status=pb.FAILED))
    assert [s.saga_id for s in listed.sagas] == [saga.saga_id]

    resumed = await stack.orchestrator.ResumeSaga(
        pb.ResumeSagaRequest(saga_id=saga.saga_id, clear_faults=True), timeout=30
    )
    assert status(resumed) == "COMPENSATED"
    assert list(resumed.compensation_order) == [
        "process_payment",
        "deduct_loyalty_points",
        "reserve_seat",
    ]
    p = await proof(stack, saga.saga_id)
    assert (p.seats_held, p.points_delta, p.refunds) == (0, 0, 1)


async def test_same_idempotency_key_racing_creates_one_saga_and_one_booking(
    stack: Stack,
) -> None:
    flight = await first_flight(stack)
    req = book_request([flight])
    a, b = await asyncio.gather(
        book(stack, req, x_idempotency_key="order-42"),
        book(stack, req, x_idempotency_key="order-42"),
    )
    assert a.saga_id == b.saga_id
    assert sorted([a.replayed, b.replayed]) == [False, True]
    assert a.booking_reference == b.booking_reference != ""
    again = await book(stack, req, x_idempotency_key="order-42")
    assert again.replayed and again.saga_id == a.saga_id
    listed = await stack.orchestrator.ListSagas(pb.ListSagasRequest())
    assert listed.total == 1
    assert (await proof(stack, a.saga_id)).charges == 1


@pytest.mark.parametrize(
    ("mutate", "md", "needle"),
    [
        (lambda r: r.ClearField("passengers"), {}, "passengers"),
        (lambda r: r.flight_ids.__setitem__(0, "FS999-20991231"), {}, "flight_ids[0]"),
        (lambda r: setattr(r, "loyalty_points", -5), {}, "loyalty_points"),
        (lambda r: r.ClearField("card"), {}, "card"),
        (lambda r: setattr(r, "customer_id", "x" * 500), {}, "customer_id"),
        (lambda r: None, {"x_fail_at": "teleport"}, "x-fail-at"),
        (lambda r: None, {"x_fault": "payment:explode"}, "x-fault"),
        (lambda r: None, {"x_fault": "payment"}, "x-fault"),
    ],
)
async def test_bad_input_is_invalid_argument_and_creates_no_saga(
    stack: Stack, mutate: object, md: dict[str, str], needle: str
) -> None:
    req = book_request([await first_flight(stack)])
    mutate(req)  # type: ignore[operator]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await book(stack, req, **md)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert needle in (err.value.details() or "")
    assert (await stack.orchestrator.ListSagas(pb.ListSagasRequest())).total == 0


async def test_faults_refused_when_fault_injection_is_disabled(tmp_path: Path) -> None:
    async with running_stack(tmp_path, fault_injection=False) as stack:
        req = book_request([await first_flight(stack)])
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await book(stack, req, x_fail_at="payment")
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "fault injection is disabled" in (err.value.details() or "")
        assert (await stack.orchestrator.ListSagas(pb.ListSagasRequest())).total == 0


async def test_watch_streams_every_event_to_the_terminal_one(stack: Stack) -> None:
    flight = await first_flight(stack)
    saga = await book(stack, book_request([flight]), x_fail_at="payment")
    events = [
        e async for e in stack.orchestrator.WatchSaga(pb.WatchSagaRequest(saga_id=saga.saga_id))
    ]
    types = [pb.SagaEventType.Name(e.type) for e in events]
    assert types[0] == "SAGA_STARTED" and types[-1] == "SAGA_COMPENSATED"
    comp = [e.step for e in events if pb.SagaEventType.Name(e.type) == "COMPENSATION_SUCCEEDED"]
    assert comp == ["deduct_loyalty_points", "reserve_seat"]
    assert [e.seq for e in events] == list(range(1, len(events) + 1))


async def test_watch_follows_a_running_saga_live(stack: Stack) -> None:
    flight = await first_flight(stack)
    # Each payment attempt hangs past the 1 s step deadline; the call's own deadline is shorter,
    # so BookFlight answers with the saga as it stands and the saga goes on in the background.
    saga = await stack.orchestrator.BookFlight(
        book_request([flight]), metadata=(("x-fault", "payment:delay=1500"),), timeout=0.6
    )
    assert status(saga) == "RUNNING"
    watch = stack.orchestrator.WatchSaga(pb.WatchSagaRequest(saga_id=saga.saga_id))
    events = [e async for e in watch]
    assert pb.SagaEventType.Name(events[-1].type) == "SAGA_COMPENSATED"
    assert sum(pb.SagaEventType.Name(e.type) == "STEP_RETRYING" for e in events) == 2


async def test_list_pages_and_filters_and_stats_count(stack: Stack) -> None:
    flight = await first_flight(stack)
    for fail in ("", "", "seat", "payment", ""):
        await book(stack, book_request([flight]), **({"x_fail_at": fail} if fail else {}))
    first = await stack.orchestrator.ListSagas(pb.ListSagasRequest(page_size=2))
    assert first.total == 5 and len(first.sagas) == 2 and first.next_page_token
    rest = await stack.orchestrator.ListSagas(
        pb.ListSagasRequest(page_size=10, page_token=first.next_page_token)
    )
    assert len(rest.sagas) == 3 and not rest.next_page_token
    done = await stack.orchestrator.ListSagas(pb.ListSagasRequest(status=pb.COMPENSATED))
    assert done.total == 2
    stats = await stack.orchestrator.GetStats(pb.GetStatsRequest())
    assert (stats.completed, stats.compensated, stats.total) == (3, 2, 5)
    assert stats.steps_completed == 3 * 4 + 0  # compensated steps are counted as compensated
    assert stats.compensations_completed == 2  # the payment failure undid loyalty and seat


async def test_pages_stay_stable_while_sagas_are_created(stack: Stack) -> None:
    """Newest first by keyset: sagas created between two pages neither shift the next page
    (no saga twice, none skipped) nor appear in it."""
    flight = await first_flight(stack)
    before = [(await book(stack, book_request([flight], points=0))).saga_id for _ in range(6)]
    first = await stack.orchestrator.ListSagas(pb.ListSagasRequest(page_size=3))
    for _ in range(4):
        await book(stack, book_request([flight], points=0))
    second = await stack.orchestrator.ListSagas(
        pb.ListSagasRequest(page_size=3, page_token=first.next_page_token)
    )
    seen = [s.saga_id for s in first.sagas] + [s.saga_id for s in second.sagas]
    assert seen == list(reversed(before))
    assert not second.next_page_token

    for token, request in (
        ("garbage", pb.ListSagasRequest(page_token="garbage")),
        # A token is for the filter it was made with.
        ("filter", pb.ListSagasRequest(status=pb.COMPLETED, page_token=first.next_page_token)),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stack.orchestrator.ListSagas(request)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, token
        assert "page_token" in (info.value.details() or "")


async def test_start_booking_answers_at_once_and_the_saga_goes_on(stack: Stack) -> None:
    flight = await first_flight(stack)
    req = pb.StartBookingRequest(request_id="start-1", booking=book_request([flight]))
    md = (("x-fault", "payment:delay=300"),)
    started = await stack.orchestrator.StartBooking(req, metadata=md, timeout=5)
    assert status(started) == "RUNNING" and started.saga_id and not started.replayed
    events = [
        e async for e in stack.orchestrator.WatchSaga(pb.WatchSagaRequest(saga_id=started.saga_id))
    ]
    assert pb.SagaEventType.Name(events[-1].type) == "SAGA_COMPLETED"
    again = await stack.orchestrator.StartBooking(req, timeout=5)
    assert again.replayed and again.saga_id == started.saga_id and status(again) == "COMPLETED"


async def test_a_key_reused_for_a_different_booking_is_refused_on_both_rpcs(stack: Stack) -> None:
    flight = await first_flight(stack)
    await stack.orchestrator.StartBooking(
        pb.StartBookingRequest(request_id="k-1", booking=book_request([flight], points=0)),
        timeout=10,
    )
    other = book_request([flight], points=500)
    with pytest.raises(grpc.aio.AioRpcError) as start:
        await stack.orchestrator.StartBooking(
            pb.StartBookingRequest(request_id="k-1", booking=other), timeout=10
        )
    assert start.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert "request_id" in (start.value.details() or "")
    await book(stack, book_request([flight], points=0), x_idempotency_key="k-2")
    with pytest.raises(grpc.aio.AioRpcError) as blocking:
        await book(stack, other, x_idempotency_key="k-2")
    assert blocking.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert "x-idempotency-key" in (blocking.value.details() or "")
    assert (await stack.orchestrator.ListSagas(pb.ListSagasRequest())).total == 2


async def test_start_booking_needs_a_request_id_and_a_booking(stack: Stack) -> None:
    flight = await first_flight(stack)
    for request, field in (
        (pb.StartBookingRequest(booking=book_request([flight])), "request_id"),
        (pb.StartBookingRequest(request_id="r-1"), "booking"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stack.orchestrator.StartBooking(request, timeout=5)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert (info.value.details() or "").startswith(field)


async def test_correlation_id_reaches_every_participant_log_line(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    flight = await first_flight(stack)
    saga = await book(stack, book_request([flight]), x_correlation_id="corr-abc-123")
    assert saga.correlation_id == "corr-abc-123"
    lines = [r for r in caplog.records if getattr(r, "correlation_id", None) == "corr-abc-123"]
    committed = {
        step
        for step in STEP_ORDER
        for r in lines
        if r.name == "sagakit.participant" and step in r.getMessage()
    }
    assert committed == set(STEP_ORDER)
    assert any(r.name == "orchestrator.saga" for r in lines)
    assert all(
        getattr(r, "saga_id", None) == saga.saga_id for r in lines if r.name != "sagakit.rpc"
    )


async def test_finished_sagas_are_appended_to_the_bookings_log(stack: Stack) -> None:
    flight = await first_flight(stack)
    ok = await book(stack, book_request([flight]))
    bad = await book(stack, book_request([flight]), x_fail_at="booking")
    lines = (stack.data_dir / "bookings.jsonl").read_text().splitlines()
    docs = [json.loads(line) for line in lines]
    assert [(d["saga_id"], d["status"]) for d in docs] == [
        (ok.saga_id, "COMPLETED"),
        (bad.saga_id, "COMPENSATED"),
    ]
    assert docs[1]["compensation_order"] == [
        "process_payment",
        "deduct_loyalty_points",
        "reserve_seat",
    ]


async def test_the_correlation_id_is_echoed_in_the_response_metadata(stack: Stack) -> None:
    flight = await first_flight(stack)
    md = (("x-correlation-id", "cid-echo-1"),)
    call = stack.orchestrator.BookFlight(book_request([flight]), metadata=md, timeout=30)
    await call
    assert ("x-correlation-id", "cid-echo-1") in tuple(await call.trailing_metadata())
    # An error carries it too: a domain error (abort) and a participant's refusal.
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await stack.orchestrator.GetSaga(pb.GetSagaRequest(saga_id="nope"), metadata=md)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert ("x-correlation-id", "cid-echo-1") in tuple(missing.value.trailing_metadata() or ())
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stack.loyalty.GetAccount(loyalty_pb2.GetAccountRequest(account_id="?"), metadata=md)
    assert refused.value.code() != grpc.StatusCode.OK
    assert ("x-correlation-id", "cid-echo-1") in tuple(refused.value.trailing_metadata() or ())
    # Without one, the server's own id comes back.
    call = stack.orchestrator.GetStats(pb.GetStatsRequest())
    await call
    assert dict(tuple(await call.trailing_metadata()))["x-correlation-id"]
