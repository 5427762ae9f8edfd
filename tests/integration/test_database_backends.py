"""The Database protocol, one suite for both backends (SQLite file, real PostgreSQL server).

Transaction functions are written once; whichever backend runs them, each runs whole or not at
all and as if transactions ran one at a time: the barrier's semantics rest on that.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from sagakit import barrier
from sagakit.config import ConfigError
from sagakit.databases import connect
from sagakit.db import Conflict, Conn, Database, IntegrityError, savepoint
from sagakit.errors import Aborted, Unavailable
from sagakit.inserts import Insert, insert_all
from sagakit.migrate import Migrations
from tests.support.dates import flight_id

# The seat service's schema: the barrier table plus seat_holds (a partial unique index).
SEAT = Migrations("seat_service", marker_table="seat_holds")


@pytest.fixture
async def db(database_url: Callable[[str], str]) -> AsyncIterator[Database]:
    database = connect(database_url("seat_service"), SEAT)
    await database.open()
    try:
        yield database
    finally:
        await database.close()


def hold(conn: Conn, saga_id: str, seat: str = "1A") -> None:
    conn.execute(
        "INSERT INTO seat_holds (saga_id, flight_id, seat, passenger_index, cabin, held_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (saga_id, flight_id("FS101", 1), seat, 0, 1, barrier.now_iso()),
    )


def count(conn: Conn, saga_id: str | None = None) -> int:
    if saga_id is None:
        return int(conn.execute("SELECT COUNT(*) FROM seat_holds").fetchone()[0])
    row = conn.execute("SELECT COUNT(*) AS n FROM seat_holds WHERE saga_id=?", (saga_id,))
    return int(row.fetchone()["n"])


async def test_a_transaction_commits_whole_or_not_at_all(db: Database) -> None:
    def half(conn: Conn) -> None:
        hold(conn, "s1")
        raise ValueError("second half failed")

    with pytest.raises(ValueError):
        await db.transaction(half)
    assert await db.read(count) == 0
    await db.transaction(lambda c: hold(c, "s2"))
    assert await db.read(lambda c: count(c, "s2")) == 1


async def test_a_constraint_is_one_error_and_a_savepoint_lets_the_transaction_go_on(
    db: Database,
) -> None:
    await db.transaction(lambda c: hold(c, "s1", "7C"))

    def clash(conn: Conn) -> str:
        try:
            with savepoint(conn):
                hold(conn, "s2", "7C")  # the partial unique index: seat already held
        except IntegrityError:
            hold(conn, "s2", "7D")
            return "took 7D"
        return "took 7C"

    assert await db.transaction(clash) == "took 7D"
    assert await db.read(count) == 2


async def test_concurrent_barrier_dos_of_one_saga_take_effect_once(db: Database) -> None:
    """Twenty transactions of the same Do at once, each slow inside: one effect, one result.
    (On PostgreSQL they truly overlap: conflicts are detected and the losers run again)."""
    calls = 0

    def do(conn: Conn) -> tuple[bytes, bool]:
        def apply() -> bytes:
            nonlocal calls
            calls += 1
            time.sleep(0.01)  # widen the race between check and insert
            hold(conn, "racer")
            return b"held 1A"

        return barrier.do(conn, "racer", "reserve_seat", b"request", apply)

    results = await asyncio.gather(*(db.transaction(do) for _ in range(20)))
    assert {r for r, _ in results} == {b"held 1A"}
    assert sum(1 for _, replay in results if not replay) == 1
    assert await db.read(lambda c: count(c, "racer")) == 1


async def test_concurrent_do_and_compensate_never_leave_an_effect(db: Database) -> None:
    def do(conn: Conn) -> tuple[bytes, bool]:
        def apply() -> bytes:
            time.sleep(0.01)
            hold(conn, "pair")
            return b"held"

        return barrier.do(conn, "pair", "reserve_seat", b"request", apply)

    def compensate(conn: Conn) -> tuple[bytes, bool]:
        def undo() -> bytes:
            conn.execute("DELETE FROM seat_holds WHERE saga_id=?", ("pair",))
            return b"released"

        return barrier.compensate(conn, "pair", "reserve_seat", undo, lambda: b"null")

    outcomes = await asyncio.gather(
        *(db.transaction(do) for _ in range(5)),
        *(db.transaction(compensate) for _ in range(5)),
        return_exceptions=True,
    )
    refused = [o for o in outcomes[:5] if isinstance(o, Aborted)]
    assert all(isinstance(o, tuple | Aborted) for o in outcomes), outcomes
    assert await db.read(lambda c: count(c, "pair")) == 0
    compensations = {o[0] for o in outcomes[5:] if isinstance(o, tuple)}
    assert len(compensations) == 1  # every Compensate got the first one's answer
    assert (compensations == {b"null"}) == (len(refused) == 5)


async def test_reads_see_every_committed_transaction(db: Database) -> None:
    def holder(i: int) -> Callable[[Conn], None]:
        return lambda c: hold(c, f"s{i}", f"{i}A")

    await asyncio.gather(*(db.transaction(holder(i)) for i in range(30)))
    assert await db.read(count) == 30


async def test_concurrent_transactions_run_in_submission_order_and_fail_alone(
    db: Database,
) -> None:
    """Group commit (both backends): fifty transactions queued at once. Each sees exactly the
    work of the ones submitted before it; one that raises is undone alone, also one whose
    statement the server refused (PostgreSQL then runs it again alone, on a fresh
    transaction, and the order holds around it)."""

    def job(i: int) -> Callable[[Conn], object]:
        def fn(conn: Conn) -> object:
            seen = count(conn)
            hold(conn, f"s{i}", f"{i}A")
            if i % 7 == 3:
                raise ValueError(f"job {i} failed")
            if i % 11 == 5:
                try:
                    hold(conn, f"dup{i}", f"{i}A")  # the partial unique index refuses it
                except IntegrityError:
                    raise LookupError(f"seat {i}A taken") from None
            return seen

        return fn

    results = await asyncio.gather(
        *(db.transaction(job(i)) for i in range(50)), return_exceptions=True
    )
    committed = 0
    for i, result in enumerate(results):
        if i % 7 == 3:
            assert isinstance(result, ValueError) and str(result) == f"job {i} failed"
        elif i % 11 == 5:
            assert isinstance(result, LookupError) and str(result) == f"seat {i}A taken"
        else:
            assert result == committed, (i, result)
            committed += 1
    assert await db.read(count) == committed


@pytest.mark.parametrize("database_backend", ["postgres"])
async def test_concurrent_transactions_share_commits_on_postgres(
    database_backend: str, db: Database
) -> None:
    """Transactions that queue up while one commits are committed together (one PostgreSQL
    transaction id for several callers), each caller still answered once it is durable."""

    def job(i: int) -> Callable[[Conn], int]:
        def fn(conn: Conn) -> int:
            hold(conn, f"s{i}", f"{i}A")
            return int(conn.execute("SELECT txid_current()").fetchone()[0])

        return fn

    txids = await asyncio.gather(*(db.transaction(job(i)) for i in range(40)))
    assert await db.read(count) == 40
    assert len(set(txids)) < 40, "no two callers shared a commit"


@pytest.mark.parametrize("database_backend", ["postgres"])
async def test_a_session_ended_before_its_commit_runs_again_and_commits_once(
    database_backend: str, database_url: Callable[[str], str]
) -> None:
    """A process paused after its last statement and before its COMMIT (SIGSTOP; here a
    sleep) past the session bound: the server ended the session, the COMMIT never ran, and
    the transaction runs again on a fresh connection, alone and in a batch."""
    database = connect(database_url("seat_service"), SEAT, hold_s=0.3)
    await database.open()
    runs: dict[str, int] = {}

    def job(saga: str, seat: str, pause_s: float = 0.0) -> Callable[[Conn], None]:
        def fn(conn: Conn) -> None:
            runs[saga] = runs.get(saga, 0) + 1
            if saga != "wait":
                hold(conn, saga, seat)
            if runs[saga] == 1:
                time.sleep(pause_s)  # past the bound with the transaction open, on the first run

        return fn

    try:
        await database.transaction(job("alone", "1A", 0.8))
        # While "wait" holds the writer, the next two queue up and run as one batch.
        waiting = database.submit(job("wait", "", 0.2))
        await asyncio.sleep(0.05)
        await asyncio.gather(
            waiting, database.submit(job("first", "2A")), database.submit(job("last", "3A", 0.8))
        )
        assert await database.read(count) == 3
        assert runs["alone"] == 2 and runs["last"] == 2
    finally:
        await database.close()


@pytest.mark.parametrize("database_backend", ["postgres"])
async def test_a_transaction_that_keeps_conflicting_is_unavailable_with_nothing_written(
    database_backend: str, db: Database
) -> None:
    """Run again on every conflict, up to a bound: then the caller is told UNAVAILABLE (try
    later), not an internal error, and nothing of any run is left."""
    runs = 0

    def fn(conn: Conn) -> None:
        nonlocal runs
        runs += 1
        hold(conn, "s1")
        raise Conflict("a concurrent transaction's effect")

    with pytest.raises(Unavailable, match="conflicted with concurrent ones 20 times"):
        await db.transaction(fn)
    assert runs == 20
    assert await db.read(count) == 0


@pytest.mark.parametrize("database_backend", ["postgres"])
async def test_an_unreachable_server_stops_the_start_with_one_line(
    database_backend: str, database_url: Callable[[str], str]
) -> None:
    url = database_url("seat_service").rsplit(":", 1)[0] + ":1/nowhere"
    db = connect(url, SEAT)
    with pytest.raises(ConfigError) as info:
        await db.open()
    message = str(info.value)
    assert message.startswith("DATABASE_URL ") and "\n" not in message
    assert "flightsaga:***@" in message  # the password is masked


@pytest.mark.parametrize("database_backend", ["postgres"])
async def test_a_wrong_password_or_missing_database_stops_the_start_with_one_line(
    database_backend: str, database_url: Callable[[str], str]
) -> None:
    good = database_url("seat_service")
    for url in (
        good.replace("flightsaga:flightsaga@", "flightsaga:wrong-secret@"),
        good.rsplit("/", 1)[0] + "/no_such_database",
    ):
        with pytest.raises(ConfigError) as info:
            await connect(url, SEAT).open()
        assert "DATABASE_URL" in str(info.value) and "wrong-secret" not in str(info.value)


def test_sqlite_path_from_url(tmp_path: Path) -> None:
    db = connect(f"sqlite:///{tmp_path / 'x.db'}", SEAT)
    assert type(db).__name__ == "SqliteDatabase"


async def test_concurrent_booking_dos_of_one_saga_make_one_booking(
    database_url: Callable[[str], str],
) -> None:
    """The booking service's Do racing itself: the loser meets the winner's booking through
    the saga_id constraint (after its snapshot, on PostgreSQL) and runs again to a replay,
    instead of taking that for a reference collision until it gives up."""
    from booking_service import bookings

    db = connect(database_url("booking_service"), Migrations("booking_service", "bookings"))
    await db.open()
    try:
        it = bookings.itinerary(
            [("Ann", "Lee", "")],
            1,
            [(flight_id("FS101", 1), 0, "11A")],
            [flight_id("FS101", 1)],
            {},
            "",
            "",
        )

        def do(conn: Conn) -> tuple[bytes, bool]:
            def apply() -> bytes:
                time.sleep(0.01)
                return bookings.confirm(conn, "one-saga", "LOY-1001", it).reference.encode()

            return barrier.do(conn, "one-saga", "confirm_booking", b"request", apply)

        results = await asyncio.gather(*(db.transaction(do) for _ in range(10)))
        assert len({r for r, _ in results}) == 1
        assert sum(1 for _, replay in results if not replay) == 1
        rows = await db.read(lambda c: c.execute("SELECT COUNT(*) FROM bookings").fetchone()[0])
        assert rows == 1
    finally:
        await db.close()


HOLDS = Insert("seat_holds (saga_id, flight_id, seat, passenger_index, cabin, held_at)", 6)
MARKS = Insert(
    "saga_barrier (saga_id, step, op, result, null_compensation, created_at)",
    6,
    "ON CONFLICT (saga_id, step, op) DO UPDATE SET result=excluded.result",
)


async def test_insert_all_writes_every_table_at_once_or_nothing(db: Database) -> None:
    flight = flight_id(1)

    def marks(saga: str, *results: bytes) -> list[tuple[object, ...]]:
        return [(saga, f"s{i}", "do", r, 0, "t") for i, r in enumerate(results)]

    def write(conn: Conn) -> None:
        holds = [("s1", flight, seat, i, 1, "t") for i, seat in enumerate(("1A", "1B", "1C"))]
        insert_all(conn, [(HOLDS, holds), (MARKS, marks("s1", b"a", b"b")), (HOLDS, [])])

    await db.transaction(write)
    # The upsert's tail applies to every row of the statement.
    await db.transaction(lambda c: insert_all(c, [(MARKS, marks("s1", b"x", b"y"))]))

    def clash(conn: Conn) -> None:  # 1A is held: the marks in the same call go too
        insert_all(conn, [(MARKS, marks("s2", b"z")), (HOLDS, [("s2", flight, "1A", 0, 1, "t")])])

    with pytest.raises(IntegrityError):
        await db.transaction(clash)

    def seen(conn: Conn) -> tuple[list[str], list[tuple[str, bytes]]]:
        seats = conn.execute("SELECT seat FROM seat_holds ORDER BY seat").fetchall()
        rows = conn.execute("SELECT saga_id, result FROM saga_barrier ORDER BY step").fetchall()
        return [r[0] for r in seats], [(r[0], bytes(r[1])) for r in rows]

    assert await db.read(seen) == (["1A", "1B", "1C"], [("s1", b"x"), ("s1", b"y")])
