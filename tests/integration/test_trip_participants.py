"""The trip saga's participants (examples/trip): hotel_service and car_service as real gRPC
servers on 127.0.0.1:0, each on a SQLite file and on PostgreSQL. Outcomes are checked against
the services' read RPCs and every row of their databases, never a mock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message

from examples.trip import TRIP, trip_pb2, trip_pb2_grpc
from examples.trip.car_service.app import build as build_car
from examples.trip.hotel_service.app import build as build_hotel
from orchestrator.from_declaration import to_dict
from sagakit.config import ServiceConfig
from sagakit.errors import Reason, details_of
from sagakit.server import GrpcApp
from tests.support.participants import db_rows
from tests.support.procs import ServiceProcess, free_port
from tests.support.services import config_for

CHECK_IN = "2030-06-10"


def room(saga_id: str, **changes: Any) -> trip_pb2.BookRoomRequest:
    fields = {"guest": "Ann Lee", "city": "LIS", "check_in": CHECK_IN, "nights": 3, **changes}
    return trip_pb2.BookRoomRequest(saga_id=saga_id, **fields)


def car(saga_id: str, **changes: Any) -> trip_pb2.RentCarRequest:
    fields = {"driver": "Ann Lee", "city": "LIS", "pick_up": CHECK_IN, "days": 3, **changes}
    return trip_pb2.RentCarRequest(saga_id=saga_id, **fields)


@dataclass(frozen=True)
class Case:
    """One participant, described for the tests written once for both."""

    service: str
    step: str
    aliases: tuple[str, ...]
    build: Callable[[ServiceConfig], GrpcApp]
    stub: Callable[[grpc.aio.Channel], Any]
    do_request: Callable[..., Message]
    compensate_request: Callable[..., Message]
    read_rpc: str
    read_request: Callable[..., Message]
    stock: tuple[str, tuple[str, ...]]  # the table and key of what the default Do takes one of
    other_body: dict[str, Any]  # a different Do body (a replay under the same saga id)
    sold_out: dict[str, Any]  # a Do body the service refuses: nothing left
    sold_out_message: str
    bad_input: list[tuple[dict[str, Any], str]] = field(default_factory=list)

    def __str__(self) -> str:
        return self.service


HOTEL = Case(
    "hotel_service", "book_room", ("hotel", "room"), build_hotel,
    trip_pb2_grpc.HotelServiceStub, room, trip_pb2.CancelRoomRequest,
    "GetStay", trip_pb2.StayRequest, ("cities", ("LIS",)),
    other_body={"nights": 5}, sold_out={"city": "SLD"}, sold_out_message="no rooms left in SLD",
    bad_input=[
        ({"saga_id": ""}, "saga_id"),
        ({"guest": ""}, "guest"),
        ({"guest": "x" * 101}, "guest"),
        ({"city": ""}, "city"),
        ({"check_in": "2030-02-30"}, "check_in"),
        ({"check_in": "soon"}, "check_in"),
        ({"nights": 0}, "nights"),
        ({"nights": 31}, "nights"),
    ],
)  # fmt: skip
CAR = Case(
    "car_service", "rent_car", ("car",), build_car,
    trip_pb2_grpc.CarServiceStub, car, trip_pb2.ReturnCarRequest,
    "GetRental", trip_pb2.RentalRequest, ("fleet", ("LIS", "economy")),
    other_body={"days": 5, "car_class": "suv"},
    sold_out={"city": "PAR", "car_class": "suv"}, sold_out_message="no suv cars left in PAR",
    bad_input=[
        ({"saga_id": ""}, "saga_id"),
        ({"driver": ""}, "driver"),
        ({"city": ""}, "city"),
        ({"pick_up": ""}, "pick_up"),
        ({"days": 0}, "days"),
        ({"days": 31}, "days"),
        ({"car_class": "van"}, "car_class"),
    ],
)  # fmt: skip
CASES = (HOTEL, CAR)


@dataclass
class Running:
    case: Case
    stub: Any
    url: str  # the service's DATABASE_URL

    async def do(self, saga_id: str, metadata: Any = None, **changes: Any) -> Any:
        return await self.stub.Do(self.case.do_request(saga_id, **changes), metadata=metadata)

    async def compensate(self, saga_id: str, metadata: Any = None) -> Any:
        request = self.case.compensate_request(saga_id=saga_id)
        return await self.stub.Compensate(request, metadata=metadata)

    async def read(self, saga_id: str) -> Any:
        rpc = getattr(self.stub, self.case.read_rpc)
        return await rpc(self.case.read_request(saga_id=saga_id))

    def rows(self) -> dict[str, list[tuple[object, ...]]]:
        return db_rows(self.url)

    def left(self) -> int:
        """How many rooms (cars) are left where the default Do takes one."""
        table, key = self.case.stock
        (row,) = (r for r in self.rows()[table] if r[: len(key)] == key)
        left = row[len(key)]
        assert isinstance(left, int)
        return left


@asynccontextmanager
async def running(
    case: Case, tmp_path: Path, urls: Callable[[str], str], faults: bool = True
) -> AsyncIterator[Running]:
    app = case.build(config_for(case.service, tmp_path, fault_injection=faults, urls=urls))
    port = await app.start("127.0.0.1", 0)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield Running(case, case.stub(channel), urls(case.service))
    finally:
        await app.stop(0)


@pytest.fixture(params=CASES, ids=str)
async def p(
    request: pytest.FixtureRequest, tmp_path: Path, database_url: Callable[[str], str]
) -> AsyncIterator[Running]:
    async with running(request.param, tmp_path, database_url) as r:
        yield r


async def expect_error(call: Any, code: grpc.StatusCode, *words: str) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    assert info.value.code() == code, info.value.details()
    for word in words:
        assert word in (info.value.details() or ""), info.value.details()
    return info.value


def mark(record: Any) -> tuple[str, bool, bool, bool]:
    (only,) = record.barrier
    return only.step, only.do_done, only.compensated, only.null_compensation


# --- Do, Compensate and the idempotency barrier ------------------------------------------------


async def test_do_takes_one_and_a_replay_returns_the_same_reply_without_taking_another(
    p: Running,
) -> None:
    before = p.left()

    first = await p.do("trip-1")

    assert first.saga_id == "trip-1" and first.price_cents > 0 and first.currency == "USD"
    assert p.left() == before - 1
    rows = p.rows()
    assert await p.do("trip-1") == first
    # Another body under the same saga id is refused: the barrier keeps the first's digest.
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await p.do("trip-1", **p.case.other_body)
    assert refused.value.code() == grpc.StatusCode.ABORTED
    assert p.rows() == rows and p.left() == before - 1
    record = await p.read("trip-1")
    assert record.state == "booked" and record.price_cents == first.price_cents
    assert mark(record) == (p.case.step, True, False, False)


async def test_compensate_gives_it_back_and_a_second_compensate_is_a_noop(p: Running) -> None:
    before = p.left()
    done = await p.do("trip-1")

    undone = await p.compensate("trip-1")

    assert not undone.null_compensation and undone.saga_id == "trip-1"
    assert p.left() == before
    record = await p.read("trip-1")
    assert record.state == "cancelled"
    assert mark(record) == (p.case.step, True, True, False)
    reference = "reservation_id" if p.case is HOTEL else "rental_id"
    assert getattr(undone, reference) == getattr(done, reference) == getattr(record, reference)
    rows = p.rows()
    assert await p.compensate("trip-1") == undone
    assert p.rows() == rows and p.left() == before


async def test_compensate_before_any_do_is_null_and_a_later_do_is_refused(p: Running) -> None:
    before = p.left()

    undone = await p.compensate("trip-1")

    assert undone.null_compensation
    record = await p.read("trip-1")
    assert record.state == "" and mark(record) == (p.case.step, False, True, True)
    rows = p.rows()
    late = await expect_error(p.do("trip-1"), grpc.StatusCode.ABORTED, "compensated")
    assert details_of(late).reason == Reason.LATE_DO_REFUSED
    assert p.rows() == rows and p.left() == before


async def test_a_lost_reply_committed_once_and_the_retry_gets_the_same_reply(p: Running) -> None:
    before = p.left()
    await expect_error(
        p.do("trip-1", metadata=(("x-fault", "do:lost-reply"),)), grpc.StatusCode.UNAVAILABLE
    )
    assert p.left() == before - 1

    retry = await p.do("trip-1")

    assert retry.saga_id == "trip-1" and p.left() == before - 1
    assert await p.do("trip-1") == retry


async def test_other_sagas_are_independent(p: Running) -> None:
    before = p.left()
    await p.do("trip-1")
    await p.compensate("trip-2")  # a null compensation of another saga
    await p.do("trip-3")
    assert p.left() == before - 2
    assert [(await p.read(s)).state for s in ("trip-1", "trip-2", "trip-3")] == [
        "booked",
        "",
        "booked",
    ]


# --- business failures -------------------------------------------------------------------------


async def test_nothing_left_is_failed_precondition_and_changes_nothing(p: Running) -> None:
    rows = p.rows()

    err = await expect_error(
        p.do("trip-1", **p.case.sold_out),
        grpc.StatusCode.FAILED_PRECONDITION,
        p.case.sold_out_message,
    )

    assert details_of(err).reason == Reason.SOLD_OUT
    assert p.rows() == rows
    assert not (await p.read("trip-1")).barrier  # no mark: the saga compensates with a null one
    assert (await p.compensate("trip-1")).null_compensation


async def test_an_unknown_city_is_not_found_naming_the_city(p: Running) -> None:
    rows = p.rows()
    err = await expect_error(p.do("trip-1", city="xyz"), grpc.StatusCode.NOT_FOUND, "XYZ")
    assert details_of(err).field == "city"
    assert p.rows() == rows


@pytest.mark.parametrize(
    ("case", "changes", "field"),
    [(case, changes, name) for case in CASES for changes, name in case.bad_input],
    ids=[f"{case}-{name}-{i}" for case in CASES for i, (_, name) in enumerate(case.bad_input)],
)
async def test_bad_input_is_invalid_argument_naming_the_field_and_changes_nothing(
    tmp_path: Path,
    database_url: Callable[[str], str],
    case: Case,
    changes: dict[str, Any],
    field: str,
) -> None:
    async with running(case, tmp_path, database_url) as p:
        await p.do("earlier-trip")  # so the tables are not empty
        rows = p.rows()
        body = {"saga_id": "trip-1", **changes}  # (the parameters are shared: not popped)
        err = await expect_error(
            p.stub.Do(case.do_request(**body)), grpc.StatusCode.INVALID_ARGUMENT, field
        )
        assert details_of(err).field == field
        assert p.rows() == rows


async def test_the_read_of_a_saga_with_no_records_is_empty(p: Running) -> None:
    record = await p.read("never")
    assert (record.saga_id, record.state, list(record.barrier)) == ("never", "", [])
    await expect_error(
        getattr(p.stub, p.case.read_rpc)(p.case.read_request(saga_id="")),
        grpc.StatusCode.INVALID_ARGUMENT,
        "saga_id",
    )


# --- fault injection ---------------------------------------------------------------------------


async def test_x_fail_by_step_name_or_alias_fails_the_step_and_changes_nothing(
    p: Running,
) -> None:
    rows = p.rows()
    for name in (p.case.step, *p.case.aliases, p.case.step.upper()):
        err = await expect_error(
            p.do("trip-1", metadata=(("x-fail", name),)), grpc.StatusCode.ABORTED, "injected"
        )
        assert details_of(err).reason == Reason.FAULT_INJECTED
    assert p.rows() == rows
    await p.do("trip-1")  # nothing was marked: the step can still run for real


async def test_x_fail_naming_the_other_trip_step_is_invalid(p: Running) -> None:
    other = next(c.step for c in CASES if c is not p.case)
    await expect_error(
        p.do("trip-1", metadata=(("x-fail", other),)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "x-fail",
        "not served here",
    )


async def test_a_failing_compensation_changes_nothing(p: Running) -> None:
    await p.do("trip-1")
    rows = p.rows()
    await expect_error(
        p.compensate("trip-1", metadata=(("x-fault", "compensate:fail"),)),
        grpc.StatusCode.INTERNAL,
    )
    assert p.rows() == rows
    assert not (await p.compensate("trip-1")).null_compensation


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_faults_are_refused_when_injection_is_disabled(
    tmp_path: Path, database_url: Callable[[str], str], case: Case
) -> None:
    async with running(case, tmp_path, database_url, faults=False) as p:
        rows = p.rows()
        await expect_error(
            p.do("trip-1", metadata=(("x-fail", case.step),)),
            grpc.StatusCode.FAILED_PRECONDITION,
            "fault injection is disabled",
        )
        assert p.rows() == rows


# --- the domains -------------------------------------------------------------------------------


async def test_prices_are_the_nights_or_days_at_the_citys_rate(p: Running) -> None:
    if p.case is HOTEL:
        reply = await p.do("trip-1", city="nyc", nights=2)
        assert (reply.city, reply.nights, reply.price_cents) == ("NYC", 2, 2 * 24000)
    else:
        reply = await p.do("trip-1", city="nyc", days=2, car_class="")  # no preference: economy
        assert (reply.city, reply.days, reply.car_class) == ("NYC", 2, "economy")
        assert reply.price_cents == 2 * 5500


async def test_55_sagas_racing_for_nycs_50_rooms_book_exactly_50(
    tmp_path: Path, database_url: Callable[[str], str]
) -> None:
    async with running(HOTEL, tmp_path, database_url) as p:
        outcomes = await asyncio.gather(
            *(p.do(f"race-{i}", city="NYC") for i in range(55)), return_exceptions=True
        )
        won = [o for o in outcomes if not isinstance(o, BaseException)]
        lost = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
        assert len(won) == 50 and len(lost) == 5, outcomes
        assert {e.code() for e in lost} == {grpc.StatusCode.FAILED_PRECONDITION}
        assert dict((r[0], r[1]) for r in p.rows()["cities"])["NYC"] == 0
        assert len([s for s in p.rows()["stays"] if s[6] == "booked"]) == 50


# --- the trip, step by step as the orchestrator runs it ----------------------------------------


async def test_a_trip_by_its_declaration_books_both_or_gives_the_room_back(
    tmp_path: Path, database_url: Callable[[str], str]
) -> None:
    """The steps' requests built by the declaration, the car's from the room's reply; where
    the car fails, the room's compensation gives the room back (what the orchestrator does)."""
    book_room, rent_car = TRIP.steps
    async with (
        running(HOTEL, tmp_path, database_url) as hotel,
        running(CAR, tmp_path, database_url) as cars,
    ):
        trip = trip_pb2.TripRequest(guest="Ann Lee", city="par", check_in=CHECK_IN, nights=4)
        TRIP.check(trip)
        room_reply = await hotel.stub.Do(book_room.request("trip-1", trip))
        car_reply = await cars.stub.Do(rent_car.request("trip-1", trip, room_reply))
        assert (car_reply.city, car_reply.days) == ("PAR", 4)
        results = {"book_room": to_dict(room_reply), "rent_car": to_dict(car_reply)}
        assert TRIP.summarize(results) == {
            "reservation_id": room_reply.reservation_id,
            "rental_id": car_reply.rental_id,
            "total_cents": 4 * 18000 + 4 * 4200,
        }

        rooms_before = dict((r[0], r[1]) for r in hotel.rows()["cities"])["PAR"]
        suv = trip_pb2.TripRequest(
            guest="Bo Kim", city="PAR", check_in=CHECK_IN, nights=2, car_class="suv"
        )
        room_reply = await hotel.stub.Do(book_room.request("trip-2", suv))
        await expect_error(
            cars.stub.Do(rent_car.request("trip-2", suv, room_reply)),
            grpc.StatusCode.FAILED_PRECONDITION,
            "no suv cars left in PAR",
        )
        assert (await cars.compensate("trip-2")).null_compensation  # the failed step first
        assert not (await hotel.compensate("trip-2")).null_compensation
        assert dict((r[0], r[1]) for r in hotel.rows()["cities"])["PAR"] == rooms_before
        assert (await hotel.read("trip-2")).state == "cancelled"


# --- as processes ------------------------------------------------------------------------------


async def test_each_service_runs_as_python_dash_m_on_its_own_database(tmp_path: Path) -> None:
    procs = [
        ServiceProcess(
            f"examples.trip.{case.service}",
            free_port(),
            {
                "DATABASE_URL": f"sqlite:///{tmp_path / case.service}.db",
                "FAULT_INJECTION": "enabled",
            },
            tmp_path / f"{case.service}.log",
        )
        for case in CASES
    ]
    try:
        for proc in procs:
            proc.start()
        for proc, case in zip(procs, CASES, strict=True):
            await proc.wait_healthy()
            async with grpc.aio.insecure_channel(proc.addr) as channel:
                stub = case.stub(channel)
                reply = await stub.Do(case.do_request("trip-1"))
                assert reply.saga_id == "trip-1"
                await expect_error(
                    stub.Do(case.do_request("trip-2"), metadata=(("x-fail", case.aliases[0]),)),
                    grpc.StatusCode.ABORTED,
                )
            assert "trip-1" in str(db_rows(tmp_path / f"{case.service}.db"))
    finally:
        for proc in procs:
            proc.stop()
