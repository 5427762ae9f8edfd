"""Upgrading in place from the previous main (175cdbb, before the packages were restructured).

The fixture (tests/fixtures/main-175cdbb, made by its make_fixture.py from the 175cdbb tree) is
the five databases as that main left them after a kill -9 of its orchestrator, on SQLite and on
PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from flightsaga.v1 import orchestrator_pb2 as pb
from sagakit.config import RetentionConfig
from sagakit.migrate import Migrations
from sagakit.plainjson import plain
from tests.support.booking import book_request, first_flight, proof
from tests.support.dates import flight_date
from tests.support.stack import Stack, running_stack

FIXTURE = Path(__file__).parents[1] / "fixtures" / "main-175cdbb"
SERVICES = ("orchestrator", "seat_service", "loyalty_service", "payment_service", "booking_service")
FINISHED = ("main-done", "main-comp")
LIVE = ("main-live-1", "main-live-2", "main-live-3")  # the third was told to fail at booking
DATE = flight_date(1)  # a new booking's day (the fixture's sagas fly on 2027-03-30)
COMPENSATED_ORDER = ["process_payment", "deduct_loyalty_points", "reserve_seat"]
# Retention is off: the fixture only gets older, and past BARRIER_RETENTION (30 days by default)
# the orchestrator stops calling participants for a saga (it ends FAILED, by design), and past
# SAGA_RETENTION the finished sagas are pruned. Neither is what an upgrade is about.
UPGRADE_ENV = {
    "SAGA_RETENTION": "off",
    "BARRIER_RETENTION": "off",
    "STEP_TIMEOUT_MS": "8000",  # the fixture's payments hold each Do 4 s (x-fault delay)
}

Url = Callable[[str], str]


def load(url: str, dumps: Path, service: str) -> None:
    """A service's dump into its fresh database: SQLite's iterdump, or PostgreSQL's pg_dump
    (plain SQL: INSERTs, no psql meta-commands) run as the service's own role."""
    if url.startswith("sqlite:///"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        conn.executescript((dumps / f"{service}.sql").read_text())
        conn.close()
    else:
        with psycopg.connect(url) as pg:
            pg.execute((dumps / f"{service}.sql").read_bytes())


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def query(url: str, sql: str, *params: str) -> list[dict[str, Any]]:
    if url.startswith("sqlite:///"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        conn.row_factory = sqlite3.Row
        rows = [dict(r) for r in conn.execute(sql, params)]
        conn.commit()
        conn.close()
        return rows
    with psycopg.connect(url) as pg, pg.cursor(row_factory=dict_row) as cur:
        cur.execute(sql.replace("?", "%s").encode(), params or None)
        return list(cur.fetchall()) if cur.description else []


def keep_bookings_log(url: str, log: Path, backend_dir: Path) -> None:
    """The old orchestrator's bookings log, where the new one writes: an upgrade in place keeps
    the file. On PostgreSQL the outbox names its file (host:path, one per replica), so the
    fixture's rows and checkpoint are renamed to this host and path."""
    log.write_bytes((backend_dir / "bookings.jsonl").read_bytes())
    for row in query(url, "SELECT DISTINCT sink FROM saga_outbox WHERE sink <> ''"):
        new = f"{socket.gethostname()}:{log.resolve()}"
        query(url, "UPDATE saga_outbox SET sink = ? WHERE sink = ?", new, row["sink"])
        query(
            url,
            "UPDATE engine_meta SET key = ? WHERE key = ?",
            f"sink_checkpoint:{new}",
            f"sink_checkpoint:{row['sink']}",
        )


def finished_rows(url: str) -> list[dict[str, Any]]:
    """The finished sagas' rows and their steps' rows, as stored."""
    keys = ", ".join(f"'{k}'" for k in FINISHED)
    ids = f"SELECT saga_id FROM sagas WHERE idempotency_key IN ({keys})"
    return query(url, f"SELECT * FROM sagas WHERE saga_id IN ({ids}) ORDER BY saga_id") + query(
        url, f"SELECT * FROM saga_steps WHERE saga_id IN ({ids}) ORDER BY saga_id, idx"
    )


def version(url: str) -> str:
    return str(query(url, "SELECT version_num FROM alembic_version")[0]["version_num"])


def key_paths(value: Any, at: str = "") -> set[str]:
    """Every key of a JSON value, as a path (list items merged under `[]`)."""
    if isinstance(value, dict):
        return {p for k, v in value.items() for p in {f"{at}.{k}"} | key_paths(v, f"{at}.{k}")}
    if isinstance(value, list):
        return {p for item in value for p in key_paths(item, f"{at}[]")}
    return set()


async def ended(stack: Stack) -> dict[str, pb.Saga]:
    loop = asyncio.get_running_loop()
    end = loop.time() + 60
    while True:
        listed = await stack.orchestrator.ListSagas(pb.ListSagasRequest(page_size=50), timeout=5)
        by_key = {s.idempotency_key: s for s in listed.sagas}
        live = [k for k in LIVE if by_key[k].status in (pb.RUNNING, pb.COMPENSATING)]
        if not live:
            return by_key
        assert loop.time() < end, f"still live: {live}"
        await asyncio.sleep(0.2)


async def test_previous_main_databases_upgrade_in_place_and_their_sagas_end(
    tmp_path: Path, database_backend: str, database_url: Url
) -> None:
    """Two finished sagas (main-done COMPLETED, main-comp COMPENSATED) and three RUNNING inside a
    delayed payment whose Do the payment service committed after the kill (main-live-3 told to
    fail at booking). Their deadlines lie a century ahead, so this code, started on the
    databases, finishes them forward: the payment's retry replays the committed charge (barrier)."""
    dumps = FIXTURE if database_backend == "sqlite" else FIXTURE / "pg"
    for service in SERVICES:
        load(database_url(service), dumps, service)
    old = {s: version(database_url(s)) for s in SERVICES}
    finished_before = finished_rows(database_url("orchestrator"))
    assert len(finished_before) == 2 + 2 * 4
    assert len(query(database_url("orchestrator"), "SELECT * FROM saga_outbox")) == 2
    log = tmp_path / "bookings.jsonl"
    keep_bookings_log(database_url("orchestrator"), log, dumps)
    old_lines = {line["idempotency_key"]: line for line in read_lines(log)}
    assert set(old_lines) == set(FINISHED)

    async with running_stack(
        tmp_path, urls=database_url, retention=RetentionConfig(barrier=None), **UPGRADE_ENV
    ) as stack:
        by_key = await ended(stack)
        status = {k: pb.SagaStatus.Name(by_key[k].status) for k in FINISHED + LIVE}
        assert status == {
            "main-done": "COMPLETED",
            "main-comp": "COMPENSATED",
            "main-live-1": "COMPLETED",
            "main-live-2": "COMPLETED",
            "main-live-3": "COMPENSATED",
        }
        assert list(by_key["main-live-3"].compensation_order) == COMPENSATED_ORDER
        for key in FINISHED + LIVE:
            p = await proof(stack, by_key[key].saga_id)
            if status[key] == "COMPLETED":
                assert (p.seats_held, p.points_delta, p.charges, p.refunds) == (1, -100, 1, 0), key
                assert p.booking_status == "CONFIRMED", key
            else:
                assert (p.seats_held, p.seats_released, p.points_delta) == (0, 1, 0), key
                assert (p.charges, p.refunds) == (1, 1), key
                assert p.charged_cents == p.refunded_cents > 0, key
                assert p.booking_status in ("", "CANCELLED"), key

        # The finished sagas read back exactly as the old release logged them.
        for key in FINISHED:
            shown = plain(
                await stack.orchestrator.GetSaga(pb.GetSagaRequest(saga_id=by_key[key].saga_id))
            )
            for only_new in ("saga", "saga_version"):  # the API's; the bookings log omits them
                shown.pop(only_new)
            # Filled by the upgrade (migration 0006): the failure's step, its status code.
            failure = (shown.pop("failed_step", ""), shown.pop("error_reason", ""))
            assert failure == (("confirm_booking", "ABORTED") if key == "main-comp" else ("", ""))
            assert shown == old_lines[key]
        # The upgrade filled the customer and flights of the sagas it found.
        done = by_key["main-done"]
        found = await stack.orchestrator.ListSagas(
            pb.ListSagasRequest(
                filter=pb.SagaFilter(
                    customer_id=done.request.customer_id, flight_id=done.request.flight_ids[0]
                )
            )
        )
        assert done.saga_id in [s.saga_id for s in found.sagas]

        # A new booking on the upgraded stack.
        flight = await first_flight(stack, date=DATE)
        fresh = await stack.orchestrator.BookFlight(
            book_request([flight], points=100),
            metadata=(("x-idempotency-key", "after-upgrade"),),
            timeout=30,
        )
        assert fresh.status == pb.COMPLETED, fresh
        p = await proof(stack, fresh.saga_id)
        assert (p.seats_held, p.points_delta, p.charges, p.booking_status) == (
            1,
            -100,
            1,
            "CONFIRMED",
        )

    head = {s: Migrations(s, "").head for s in SERVICES}
    assert {s: version(database_url(s)) for s in SERVICES} == head, old
    # Every column they had is as it was (a revision may add columns: those are new, not changed).
    after = finished_rows(database_url("orchestrator"))
    kept = [{k: row[k] for k in was} for row, was in zip(after, finished_before, strict=True)]
    assert kept == finished_before
    # The old release's outbox rows (the kill came before it cleared them) were reconciled
    # against its file and cleared.
    ids = ", ".join(f"'{by_key[k].saga_id}'" for k in FINISHED)
    assert (
        query(database_url("orchestrator"), f"SELECT * FROM saga_outbox WHERE saga_id IN ({ids})")
        == []
    )

    # The bookings log: the old lines as they were, one line for each saga finished since, none
    # twice; and the format kept (the keys of the old release's lines).
    lines = read_lines(log)
    assert [line["idempotency_key"] for line in lines[:2]] == list(old_lines)
    assert lines[:2] == list(old_lines.values())
    assert sorted(line["idempotency_key"] for line in lines[2:]) == sorted([*LIVE, "after-upgrade"])
    after = {line["idempotency_key"]: line for line in lines[2:]}
    # Like for like: a clean completed saga, and one compensated by an injected failure.
    # A failed saga's line has two keys more: its failure's step and reason (added, not changed).
    failure = {".failed_step", ".error_reason"}
    for new, like in [("after-upgrade", "main-done"), ("main-live-3", "main-comp")]:
        assert key_paths(after[new]) - failure == key_paths(old_lines[like]), (new, like)
    # And no line has a key the old release never wrote (but those two).
    known = set().union(*map(key_paths, old_lines.values())) | failure
    for new, line in after.items():
        assert key_paths(line) <= known, (new, key_paths(line) - known)
