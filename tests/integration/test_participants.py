"""The barrier, fault-injection and bad-input contract, once for all four participants.

Every test runs against real gRPC servers on 127.0.0.1:0 with real SQLite files; "changes
nothing" is checked on the database file itself (every row of every table), not on a mock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message

from flightsaga.v1 import (
    booking_pb2,
    common_pb2,
    loyalty_pb2,
    seat_pb2,
)
from tests.support.dates import flight_date, flight_id
from tests.support.participants import (
    BY_SERVICE,
    CASES,
    FLIGHT,
    GOOD_CARD,
    PASSENGERS,
    Case,
    booking_do,
    db_rows,
    loyalty_do,
    payment_do,
    seat_do,
)
from tests.support.services import running_service

INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND


@dataclass
class Running:
    case: Case
    stub: Any
    db: str  # the service's DATABASE_URL (SQLite or PostgreSQL: the suite runs on both)

    async def do(self, saga_id: str, n: int = 0, metadata: Any = None, **kw: Any) -> Any:
        return await self.stub.Do(self.case.do_request(saga_id, n), metadata=metadata, **kw)

    async def compensate(self, saga_id: str, metadata: Any = None) -> Any:
        return await self.stub.Compensate(self.case.compensate_request(saga_id), metadata=metadata)

    async def business(self, saga_id: str) -> object:
        return await self.case.business(self.stub, saga_id)

    def rows(self) -> dict[str, list[tuple[object, ...]]]:
        return db_rows(self.db)


async def _running(
    case: Case, tmp_path: Path, urls: Callable[[str], str], faults: bool = True
) -> AsyncIterator[Running]:
    async with (
        running_service(case.service, tmp_path, fault_injection=faults, urls=urls) as addr,
        grpc.aio.insecure_channel(addr) as channel,
    ):
        yield Running(case, case.stub(channel), urls(case.service))


@pytest.fixture(params=CASES, ids=str)
async def p(
    request: pytest.FixtureRequest, tmp_path: Path, database_url: Callable[[str], str]
) -> AsyncIterator[Running]:
    async for running in _running(request.param, tmp_path, database_url):
        yield running


@pytest.fixture(params=CASES, ids=str)
async def p_no_faults(
    request: pytest.FixtureRequest, tmp_path: Path, database_url: Callable[[str], str]
) -> AsyncIterator[Running]:
    async for running in _running(request.param, tmp_path, database_url, faults=False):
        yield running


async def expect_error(call: Any, code: grpc.StatusCode, *words: str) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    assert info.value.code() == code, info.value.details()
    details = info.value.details() or ""
    for word in words:
        assert word in details, details
    return details


def mark(records: Any) -> Any:
    (only,) = records.barrier
    return only


# --- the idempotency barrier -------------------------------------------------------------------


async def test_do_then_compensate_restores_state(p: Running) -> None:
    before = await p.business("saga-1")
    await p.do("saga-1")
    assert await p.business("saga-1") != before, "Do must change something a user can see"

    reply = await p.compensate("saga-1")

    assert not reply.null_compensation
    assert await p.business("saga-1") == before
    m = mark(await p.case.records(p.stub, "saga-1"))
    assert (m.step, m.do_done, m.compensated, m.null_compensation) == (p.case.step, 1, 1, 0)


async def test_repeated_do_returns_first_result_and_changes_nothing(p: Running) -> None:
    first = await p.do("saga-1")
    rows = p.rows()

    again = await p.do("saga-1")

    assert again == first
    assert p.rows() == rows


async def test_a_do_with_another_body_for_the_same_saga_is_refused(p: Running) -> None:
    first = await p.do("saga-1")
    rows = p.rows()

    await expect_error(p.do("saga-1", n=1), grpc.StatusCode.ABORTED, "another request")

    assert p.rows() == rows
    assert await p.do("saga-1") == first  # the first body still replays


async def test_repeated_compensate_is_a_noop(p: Running) -> None:
    await p.do("saga-1")
    first = await p.compensate("saga-1")
    rows = p.rows()
    state = await p.business("saga-1")

    again = await p.compensate("saga-1")

    assert again == first
    assert p.rows() == rows
    assert await p.business("saga-1") == state


async def test_null_compensation_then_late_do_is_refused(p: Running) -> None:
    before = await p.business("saga-1")

    reply = await p.compensate("saga-1")

    assert reply.null_compensation
    m = mark(await p.case.records(p.stub, "saga-1"))
    assert (m.do_done, m.compensated, m.null_compensation) == (False, True, True)
    rows = p.rows()
    await expect_error(p.do("saga-1"), grpc.StatusCode.ABORTED, "compensated")
    assert p.rows() == rows
    assert await p.business("saga-1") == before


async def test_concurrent_duplicate_dos_take_effect_once(p: Running) -> None:
    """Retries racing each other (a client and the orchestrator, two replicas): one effect,
    every caller the same answer. On PostgreSQL the transactions really run at once."""
    before = await p.business("saga-1")
    replies = await asyncio.gather(*(p.do("saga-1") for _ in range(12)))
    assert all(r == replies[0] for r in replies)
    records = await p.case.records(p.stub, "saga-1")
    assert mark(records).do_done
    await p.compensate("saga-1")
    assert await p.business("saga-1") == before  # one compensation undid everything there was


async def test_do_racing_its_compensate_ends_consistent(p: Running) -> None:
    """A Do and its Compensate at the same time: either the Do ran and was undone, or the
    Compensate was a null one and the Do was refused. Never an effect left behind."""
    before = await p.business("saga-1")
    do, comp = await asyncio.gather(p.do("saga-1"), p.compensate("saga-1"), return_exceptions=True)
    assert not isinstance(comp, BaseException), comp
    if isinstance(do, BaseException):
        assert isinstance(do, grpc.aio.AioRpcError) and do.code() == grpc.StatusCode.ABORTED, do
        assert comp.null_compensation
    else:
        assert not comp.null_compensation
    assert await p.business("saga-1") == before
    with pytest.raises(grpc.aio.AioRpcError) as late:
        await p.do("saga-1")
    assert late.value.code() == grpc.StatusCode.ABORTED


async def test_other_sagas_are_independent(p: Running) -> None:
    await p.do("saga-1")
    await p.compensate("saga-2")  # null compensation of another saga
    await p.do("saga-3", n=1)
    assert mark(await p.case.records(p.stub, "saga-1")).do_done
    assert not mark(await p.case.records(p.stub, "saga-3")).compensated


# --- fault injection ---------------------------------------------------------------------------


async def test_x_fail_do_aborts_and_changes_nothing(p: Running) -> None:
    rows = p.rows()
    await expect_error(
        p.do("saga-1", metadata=(("x-fail", "do"),)), grpc.StatusCode.ABORTED, "injected"
    )
    assert p.rows() == rows
    # Nothing was marked, so the saga can still run its step for real.
    await p.do("saga-1")


async def test_x_fail_by_step_name_and_alias(p: Running) -> None:
    # The orchestrator forwards step names; people using grpcurl type aliases like "seat".
    for name in (p.case.step, p.case.service.split("_")[0].upper()):
        await expect_error(p.do("saga-1", metadata=(("x-fail", name),)), grpc.StatusCode.ABORTED)


async def test_failing_compensation_changes_nothing(p: Running) -> None:
    await p.do("saga-1")
    rows = p.rows()
    await expect_error(
        p.compensate("saga-1", metadata=(("x-fault", "compensate:fail"),)),
        grpc.StatusCode.INTERNAL,
    )
    assert p.rows() == rows
    assert not (await p.compensate("saga-1")).null_compensation


async def test_lost_reply_commits_and_a_retry_returns_the_same_result(p: Running) -> None:
    await expect_error(
        p.do("saga-1", metadata=(("x-fault", "do:lost-reply"),)), grpc.StatusCode.UNAVAILABLE
    )
    assert mark(await p.case.records(p.stub, "saga-1")).do_done
    rows = p.rows()
    state = await p.business("saga-1")

    retry = await p.do("saga-1")

    assert retry.saga_id == "saga-1"
    assert p.rows() == rows
    assert await p.business("saga-1") == state
    assert await p.do("saga-1") == retry


async def test_unavailable_fault_changes_nothing(p: Running) -> None:
    rows = p.rows()
    await expect_error(
        p.do("saga-1", metadata=(("x-fault", "do:unavailable"),)), grpc.StatusCode.UNAVAILABLE
    )
    assert p.rows() == rows


async def test_delayed_do_past_deadline_then_compensate_then_late_do_is_refused(
    p: Running, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    before = await p.business("saga-1")
    await expect_error(
        p.do("saga-1", metadata=(("x-fault", "do:delay=400ms"),), timeout=0.1),
        grpc.StatusCode.DEADLINE_EXCEEDED,
    )
    # The orchestrator gives up and compensates; the Do has not run yet, so this is null.
    assert (await p.compensate("saga-1")).null_compensation
    rows = p.rows()

    await asyncio.sleep(0.6)  # the hanging Do now reaches the barrier and is refused

    refused = [r for r in caplog.records if "/Do -> ABORTED" in r.getMessage()]
    assert refused, "the late Do should have run into the barrier"
    assert p.rows() == rows
    assert await p.business("saga-1") == before
    assert not mark(await p.case.records(p.stub, "saga-1")).do_done


async def test_faults_refused_when_injection_is_disabled(p_no_faults: Running) -> None:
    p = p_no_faults
    rows = p.rows()
    for header in (("x-fail", "do"), ("x-fault", "do:lost-reply")):
        await expect_error(
            p.do("saga-1", metadata=(header,)),
            grpc.StatusCode.FAILED_PRECONDITION,
            "fault injection is disabled",
        )
    assert p.rows() == rows


@pytest.mark.parametrize(
    ("header", "value", "words"),
    [
        ("x-fail", "teleport", ("x-fail", "unknown step")),
        ("x-fault", "do:explode", ("x-fault", "unknown kind")),
        ("x-fault", "later:fail", ("x-fault",)),
        ("x-fault", "do:delay=forever", ("x-fault", "duration")),
    ],
)
async def test_malformed_fault_headers_are_invalid(
    p: Running, header: str, value: str, words: tuple[str, ...]
) -> None:
    rows = p.rows()
    await expect_error(p.do("saga-1", metadata=((header, value),)), INVALID, *words)
    assert p.rows() == rows


async def test_x_fail_for_another_services_step_is_invalid(p: Running) -> None:
    other = next(c.step for c in CASES if c is not p.case)
    await expect_error(p.do("saga-1", metadata=(("x-fail", other),)), INVALID, "x-fail")


# --- bad input on every RPC --------------------------------------------------------------------


def _with(msg: Message, **changes: Any) -> Message:
    """A copy of msg with fields replaced (None clears a field)."""
    out = type(msg)()
    out.CopyFrom(msg)
    for name, value in changes.items():
        out.ClearField(name)
        if value is None:
            continue
        target = getattr(out, name)
        if isinstance(value, Message):
            target.CopyFrom(value)
        elif isinstance(value, list):
            target.extend(value)
        else:
            setattr(out, name, value)
    return out


def _card(**changes: Any) -> common_pb2.Card:
    card = common_pb2.Card()
    card.CopyFrom(GOOD_CARD)
    for k, v in changes.items():
        setattr(card, k, v)
    return card


LONG = "x" * 65
last_year = date.today().year - 1

BAD_INPUT: list[tuple[str, str, Message, grpc.StatusCode, str]] = [
    # every service: the idempotency key is required and bounded
    *[(c.service, "Do", c.do_request("", 0), INVALID, "saga_id") for c in CASES],
    *[(c.service, "Do", c.do_request(LONG, 0), INVALID, "saga_id") for c in CASES],
    *[(c.service, "Compensate", c.compensate_request(""), INVALID, "saga_id") for c in CASES],
    *[(c.service, "Compensate", c.compensate_request(LONG), INVALID, "saga_id") for c in CASES],
    *[
        (c.service, c.records_rpc, common_pb2.SagaRecordsRequest(), INVALID, "saga_id")
        for c in CASES
    ],
    # seat_service
    (
        "seat_service",
        "Do",
        _with(seat_do("s"), flight_ids=[flight_id("FS999", 1)]),
        NOT_FOUND,
        "flight_ids",
    ),
    (
        "seat_service",
        "Do",
        _with(seat_do("s"), flight_ids=["FS101-20300101"]),
        NOT_FOUND,
        "flight_ids",
    ),
    ("seat_service", "Do", _with(seat_do("s"), flight_ids=None), INVALID, "flight_ids"),
    ("seat_service", "Do", _with(seat_do("s"), flight_ids=[FLIGHT] * 5), INVALID, "flight_ids"),
    ("seat_service", "Do", _with(seat_do("s"), flight_ids=[LONG]), INVALID, "flight_ids"),
    ("seat_service", "Do", _with(seat_do("s"), passengers=None), INVALID, "passengers"),
    ("seat_service", "Do", _with(seat_do("s"), passengers=PASSENGERS * 5), INVALID, "passengers"),
    ("seat_service", "Do", _with(seat_do("s"), cabin_class=0), INVALID, "cabin_class"),
    (
        "seat_service",
        "Do",
        _with(seat_do("s"), passengers=[common_pb2.Passenger(first_name=LONG, last_name="B")]),
        INVALID,
        "passengers[0].first_name",
    ),
    (
        "seat_service",
        "Do",
        _with(
            seat_do("s"),
            seat_selections=[common_pb2.SeatSelection(flight_id=FLIGHT, seat="1A")],
        ),
        INVALID,
        "seat_selections[0].seat",  # a FIRST seat asked for in ECONOMY
    ),
    (
        "seat_service",
        "Do",
        _with(
            seat_do("s"),
            seat_selections=[
                common_pb2.SeatSelection(flight_id=FLIGHT, passenger_index=3, seat="12A")
            ],
        ),
        INVALID,
        "seat_selections[0].passenger_index",
    ),
    (
        "seat_service",
        "SearchFlights",
        seat_pb2.SearchFlightsRequest(origin="JFK", destination="LAX", date="12/01/2026"),
        INVALID,
        "date",
    ),
    (
        "seat_service",
        "SearchFlights",
        seat_pb2.SearchFlightsRequest(origin="JFK", destination="LAX", date="2027-02-30"),
        INVALID,
        "date",
    ),
    (
        "seat_service",
        "SearchFlights",
        seat_pb2.SearchFlightsRequest(
            origin="JFK", destination="LAX", date=flight_date(5), return_date=flight_date(1)
        ),
        INVALID,
        "return_date",
    ),
    (
        "seat_service",
        "SearchFlights",
        seat_pb2.SearchFlightsRequest(origin=LONG, destination="LAX", date=flight_date(5)),
        INVALID,
        "origin",
    ),
    (
        "seat_service",
        "SearchFlights",
        seat_pb2.SearchFlightsRequest(
            origin="JFK", destination="LAX", date=flight_date(5), passengers=10
        ),
        INVALID,
        "passengers",
    ),
    ("seat_service", "GetFlight", seat_pb2.GetFlightRequest(), INVALID, "flight_id"),
    (
        "seat_service",
        "GetFlight",
        seat_pb2.GetFlightRequest(flight_id=flight_id("FS999", 1)),
        NOT_FOUND,
        "flight_id",
    ),
    # loyalty_service
    ("loyalty_service", "Do", _with(loyalty_do("s"), points=-5), INVALID, "points"),
    (
        "loyalty_service",
        "Do",
        _with(loyalty_do("s"), max_value_cents=-1),
        INVALID,
        "max_value_cents",
    ),
    ("loyalty_service", "Do", _with(loyalty_do("s"), account_id=None), INVALID, "account_id"),
    ("loyalty_service", "Do", _with(loyalty_do("s"), account_id=LONG), INVALID, "account_id"),
    (
        "loyalty_service",
        "Do",
        _with(loyalty_do("s"), account_id="LOY-9999"),
        NOT_FOUND,
        "account_id",
    ),
    ("loyalty_service", "GetAccount", loyalty_pb2.GetAccountRequest(), INVALID, "account_id"),
    (
        "loyalty_service",
        "GetAccount",
        loyalty_pb2.GetAccountRequest(account_id="LOY-9999"),
        NOT_FOUND,
        "account_id",
    ),
    # payment_service
    ("payment_service", "Do", _with(payment_do("s"), card=None), INVALID, "card"),
    (
        "payment_service",
        "Do",
        _with(payment_do("s"), card=_card(number="4242424242424241")),
        INVALID,
        "card.number",
    ),
    (
        "payment_service",
        "Do",
        _with(payment_do("s"), card=_card(number="4242")),
        INVALID,
        "card.number",
    ),
    (
        "payment_service",
        "Do",
        _with(payment_do("s"), card=_card(number="4242abcd42424242")),
        INVALID,
        "card.number",
    ),
    (
        "payment_service",
        "Do",
        _with(payment_do("s"), card=_card(number="4" * 40)),
        INVALID,
        "card.number",
    ),
    (
        "payment_service",
        "Do",
        _with(payment_do("s"), card=_card(exp_month=13)),
        INVALID,
        "card.exp_month",
    ),
    (
        "payment_service",
        "Do",
        _with(payment_do("s"), card=_card(exp_year=last_year)),
        INVALID,
        "card.exp_year",
    ),
    ("payment_service", "Do", _with(payment_do("s"), card=_card(cvc="12")), INVALID, "card.cvc"),
    (
        "payment_service",
        "Do",
        _with(payment_do("s"), card=_card(holder_name="")),
        INVALID,
        "card.holder_name",
    ),
    (
        "payment_service",
        "Do",
        _with(payment_do("s"), card=_card(holder_name=LONG)),
        INVALID,
        "card.holder_name",
    ),
    ("payment_service", "Do", _with(payment_do("s"), amount_cents=-1), INVALID, "amount_cents"),
    ("payment_service", "Do", _with(payment_do("s"), currency="EUR"), INVALID, "currency"),
    (
        "payment_service",
        "Do",
        _with(payment_do("s"), description="d" * 201),
        INVALID,
        "description",
    ),
    # booking_service
    ("booking_service", "Do", _with(booking_do("s"), customer_id=None), INVALID, "customer_id"),
    ("booking_service", "Do", _with(booking_do("s"), customer_id=LONG), INVALID, "customer_id"),
    ("booking_service", "Do", _with(booking_do("s"), passengers=None), INVALID, "passengers"),
    ("booking_service", "Do", _with(booking_do("s"), cabin_class=0), INVALID, "cabin_class"),
    ("booking_service", "Do", _with(booking_do("s"), seats=None), INVALID, "seats"),
    ("booking_service", "Do", _with(booking_do("s"), flight_ids=None), INVALID, "flight_ids"),
    (
        "booking_service",
        "Do",
        _with(
            booking_do("s"),
            seats=[common_pb2.SeatAssignment(flight_id=flight_id("FS102", 1), seat="1A")],
        ),
        INVALID,
        "seats[0].flight_id",
    ),
    ("booking_service", "Do", _with(booking_do("s"), fare_cents=-100), INVALID, "fare_cents"),
    (
        "booking_service",
        "Do",
        _with(booking_do("s"), transaction_id=LONG),
        INVALID,
        "transaction_id",
    ),
    (
        "booking_service",
        "GetBooking",
        booking_pb2.GetBookingRequest(),
        INVALID,
        "booking_reference",
    ),
    (
        "booking_service",
        "GetBooking",
        booking_pb2.GetBookingRequest(booking_reference="ZZZZZZ"),
        NOT_FOUND,
        "booking_reference",
    ),
    (
        "booking_service",
        "GetBooking",
        booking_pb2.GetBookingRequest(saga_id="nope"),
        NOT_FOUND,
        "saga_id",
    ),
]


@pytest.mark.parametrize(
    ("service", "rpc", "request_msg", "code", "field"),
    BAD_INPUT,
    ids=[f"{s}-{r}-{f}-{i}" for i, (s, r, _, _, f) in enumerate(BAD_INPUT)],
)
async def test_bad_input_is_refused_naming_the_field_and_changes_nothing(
    tmp_path: Path,
    database_url: Callable[[str], str],
    service: str,
    rpc: str,
    request_msg: Message,
    code: grpc.StatusCode,
    field: str,
) -> None:
    async for p in _running(BY_SERVICE[service], tmp_path, database_url):
        await p.do("earlier-saga")  # so the tables are not empty
        rows = p.rows()
        details = await expect_error(getattr(p.stub, rpc)(request_msg), code)
        assert field in details, details
        assert p.rows() == rows
