"""The stack on PostgreSQL (docker-compose.postgres.yml): one server, unpublished and unprivileged,
a database per service that really holds its records, and records that outlive a restart of the
orchestrator's container. Run by the compose tier's PostgreSQL pass only."""

from __future__ import annotations

import asyncio
import json
import re
from urllib.parse import urlsplit

import pytest

from flightsaga.v1 import orchestrator_pb2 as pb
from tests.compose import sagas, stackctl
from tests.compose.stackctl import Clients
from tooling.pgdatabases import service_url

pytestmark = pytest.mark.skipif(
    stackctl.DATABASE != "postgres",
    reason="needs the stack on PostgreSQL (docker-compose.postgres.yml): the compose tier's "
    "PostgreSQL pass sets FLIGHTSAGA_COMPOSE_DATABASE=postgres",
)

SERVER = "postgresql://flightsaga:{password}@postgres:5432/flightsaga"  # the override's naming


def database(service: str) -> str:
    return f"flightsaga_{stackctl.MODULES[service]}"


def literal(saga_id: str) -> str:
    """A saga id as an SQL literal (ids are UUIDs: anything else is a bug, not a quoting task)."""
    assert re.fullmatch(r"[A-Za-z0-9-]+", saga_id), saga_id
    return f"'{saga_id}'"


async def container_env(service: str) -> dict[str, str]:
    cid = await stackctl.container_id(service)
    env = json.loads(await stackctl.run("docker", "inspect", "-f", "{{json .Config.Env}}", cid))
    return dict(e.split("=", 1) for e in env)


async def test_server_is_healthy_unpublished_and_unprivileged(clients: Clients) -> None:
    await stackctl.wait_healthy(["postgres"], timeout=60)
    cid = await stackctl.container_id("postgres")
    ports = json.loads(
        await stackctl.run("docker", "inspect", "-f", "{{json .NetworkSettings.Ports}}", cid)
    )
    published = [b for binds in (ports or {}).values() if binds for b in binds]
    assert not published, f"postgres is published on the host: {published}"
    # The server itself (pid 1 after the entrypoint's exec), whatever user `docker exec` gets.
    status = await stackctl.run("docker", "exec", cid, "cat", "/proc/1/status")
    uids = re.search(r"^Uid:\s+(\d+)", status, re.MULTILINE)
    assert uids is not None and uids.group(1) != "0", "postgres runs as root"
    # Password auth for network clients: a wrong password is refused.
    wrong = await stackctl.run(
        "docker",
        "exec",
        "-e",
        "PGPASSWORD=not-the-password",
        cid,
        "psql",
        "-X",
        "-h",
        "127.0.0.1",
        "-U",
        stackctl.PG_ROLE,
        "-d",
        database("orchestrator"),
        "-c",
        "select 1",
        check=False,
    )
    assert "1 row" not in wrong


async def test_every_service_runs_on_its_own_database(clients: Clients) -> None:
    for service, module in stackctl.MODULES.items():
        url = (await container_env(service))["DATABASE_URL"]
        parts = urlsplit(url)
        assert parts.scheme == "postgresql" and parts.hostname == "postgres", url
        # The name `flightsaga up --database …/flightsaga` gives the same service.
        assert url == service_url(SERVER.format(password=parts.password), module), url
        # Migrated at start: the schema version is recorded in the service's database.
        assert await stackctl.psql(database(service), "select version_num from alembic_version")
        # Nothing on SQLite: no database file in the container's data dir.
        cid = await stackctl.container_id(service)
        files = await stackctl.run("docker", "exec", cid, "find", "/data", "-name", "*.db*")
        assert not files.strip(), f"{service} wrote SQLite files: {files}"
    # One database each: the service's tables are in its database only.
    tables = {
        s: {r[0] for r in await stackctl.psql(database(s), "select tablename from pg_tables")}
        for s in stackctl.MODULES
    }
    assert "sagas" in tables["orchestrator"] and "seat_holds" not in tables["orchestrator"]
    assert "seat_holds" in tables["seat"] and "sagas" not in tables["seat"]
    assert "movements" in tables["loyalty"] and "ledger" in tables["payment"]
    assert "bookings" in tables["booking"] and "ledger" not in tables["booking"]


async def test_saga_records_are_in_postgres(clients: Clients) -> None:
    flight = await sagas.roomiest_flight(clients)
    ok = await sagas.start(clients, sagas.book_request(flight, "pg-ok"), wait=30)
    assert sagas.status(ok) == "COMPLETED", ok.error
    failed = await sagas.start(
        clients, sagas.book_request(flight, "pg-fail"), fault="payment:fail", wait=30
    )
    assert sagas.status(failed) == "COMPENSATED", failed.error

    async def rows(service: str, query: str) -> list[tuple[str, ...]]:
        return await stackctl.psql(database(service), query)

    where_ok = f"saga_id = {literal(ok.saga_id)}"
    where_failed = f"saga_id = {literal(failed.saga_id)}"
    assert await rows("orchestrator", f"select status from sagas where {where_ok}") == [
        ("COMPLETED",)
    ]
    assert await rows("orchestrator", f"select status from sagas where {where_failed}") == [
        ("COMPENSATED",)
    ]
    steps = await rows("orchestrator", f"select count(*) from saga_steps where {where_ok}")
    assert int(steps[0][0]) >= 4, steps

    held = "select count(*) filter (where released_at is null), count(*) from seat_holds"
    assert await rows("seat", f"{held} where {where_ok}") == [("1", "1")]
    assert await rows("seat", f"{held} where {where_failed}") == [("0", "1")]
    points = "select coalesce(sum(delta), 0) from movements"
    assert await rows("loyalty", f"{points} where {where_ok}") == [(str(-sagas.POINTS),)]
    assert await rows("loyalty", f"{points} where {where_failed}") == [("0",)]
    assert await rows("payment", f"select kind from ledger where {where_ok}") == [("charge",)]
    assert await rows("payment", f"select kind from ledger where {where_failed}") == []
    assert await rows("booking", f"select reference, status from bookings where {where_ok}") == [
        (ok.booking_reference, "CONFIRMED")
    ]

    # The orchestrator's own count of sagas is the table's.
    stats = await clients.orchestrator.GetStats(pb.GetStatsRequest(), timeout=10)
    assert await rows("orchestrator", "select count(*) from sagas") == [(str(stats.total),)]


async def test_sagas_outlive_a_restart_of_the_orchestrator_container(clients: Clients) -> None:
    flight = await sagas.roomiest_flight(clients)
    done = await sagas.start(clients, sagas.book_request(flight, "pg-restart"), wait=30)
    assert sagas.status(done) == "COMPLETED", done.error
    # In flight at the restart: held at the loyalty step.
    live = await asyncio.gather(
        *(
            sagas.start(clients, sagas.book_request(flight, f"pg-live{i}"), "loyalty:delay=2000")
            for i in range(3)
        )
    )
    assert all(r.status == pb.RUNNING for r in live), [sagas.status(r) for r in live]
    before = await stackctl.psql(database("orchestrator"), "select count(*) from sagas")

    await stackctl.compose("restart", "-t", "10", "orchestrator")
    await stackctl.wait_serving(["orchestrator"], timeout=60)

    fresh = Clients()  # the old channel may have backed off while the orchestrator was away
    try:
        again = await fresh.orchestrator.GetSaga(
            pb.GetSagaRequest(saga_id=done.saga_id), timeout=10
        )
        assert sagas.status(again) == "COMPLETED"
        assert again.booking_reference == done.booking_reference
        assert await sagas.records(fresh, done.saga_id) == await sagas.records(
            clients, done.saga_id
        )
        for reply in live:
            saga = await sagas.wait_terminal(fresh, reply.saga_id)
            assert sagas.status(saga) in ("COMPLETED", "COMPENSATED"), saga.error
            await sagas.assert_records_agree(fresh, saga)
        after = await stackctl.psql(database("orchestrator"), "select count(*) from sagas")
        assert after == before, (before, after)
        # And it takes new work on the same database.
        new = await sagas.start(fresh, sagas.book_request(flight, "pg-after"), wait=30)
        assert sagas.status(new) == "COMPLETED", new.error
    finally:
        await fresh.close()
    await stackctl.wait_healthy(["orchestrator"], timeout=60)
