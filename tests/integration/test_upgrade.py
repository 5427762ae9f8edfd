"""Upgrading in place: databases written by release 0.1.0 (before migrations existed).

The fixture (tests/fixtures/release-0.1.0, made by its make_fixture.py from the 0.1.0 tree) is
the five SQLite files as 0.1.0 left them after a kill -9 of its orchestrator: two finished
sagas, and three RUNNING inside a delayed payment whose Do the payment service committed after
the kill. This release stamps each file with the baseline version, upgrades it, and drives the
three sagas to their end.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from flightsaga.v1 import orchestrator_pb2 as pb
from orchestrator.engine.store import MIGRATIONS
from sagakit.config import ConfigError, RetentionConfig
from sagakit.databases import connect
from sagakit.migrate import Migrations
from tests.support.booking import proof
from tests.support.procs import free_port
from tests.support.stack import Stack, running_stack
from tooling.pgcluster import PgCluster

FIXTURE = Path(__file__).parents[1] / "fixtures" / "release-0.1.0"
SERVICES = ("orchestrator", "seat_service", "loyalty_service", "payment_service", "booking_service")
LIVE = ("rel-live-1", "rel-live-2", "rel-live-3")  # the third was told to fail at booking


def load_release(data: Path) -> None:
    for service in SERVICES:
        conn = sqlite3.connect(data / f"{service}.db")
        conn.executescript((FIXTURE / f"{service}.sql").read_text())
        conn.close()


def versions(data: Path) -> dict[str, str]:
    out = {}
    for service in SERVICES:
        conn = sqlite3.connect(data / f"{service}.db")
        out[service] = conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
        conn.close()
    return out


async def sagas_by_key(stack: Stack) -> dict[str, pb.Saga]:
    loop = asyncio.get_running_loop()
    end = loop.time() + 60
    while True:
        listed = await stack.orchestrator.ListSagas(pb.ListSagasRequest(page_size=50), timeout=5)
        by_key = {s.idempotency_key: s for s in listed.sagas}
        live = [
            k for k in LIVE if pb.SagaStatus.Name(by_key[k].status) in ("RUNNING", "COMPENSATING")
        ]
        if not live:
            return by_key
        assert loop.time() < end, f"still live: {live}"
        await asyncio.sleep(0.2)


@pytest.mark.parametrize("within_deadline", [False, True], ids=["late", "within-deadline"])
async def test_release_0_1_0_databases_upgrade_in_place_and_their_sagas_end(
    tmp_path: Path, within_deadline: bool
) -> None:
    load_release(tmp_path)
    if within_deadline:
        # As if restarted soon after the kill, before the saga deadline, with the delay
        # fault over (the injected failure at booking stays).
        conn = sqlite3.connect(tmp_path / "orchestrator.db")
        conn.execute("UPDATE sagas SET deadline_at = '2999-01-01T00:00:00+00:00'")
        conn.execute(
            "UPDATE sagas SET fault_plan = trim(replace(fault_plan,"
            " 'process_payment:delay=6000', ''), ',')"
        )
        conn.commit()
        conn.close()

    # Retention off: the fixture (2026-11-26) only gets older, and past BARRIER_RETENTION (30
    # days by default) the orchestrator no longer calls participants for its sagas (they would
    # end FAILED, by design, from 2026-12-26 on), nor is pruning what an upgrade is about.
    async with running_stack(
        tmp_path,
        retention=RetentionConfig(barrier=None),
        SAGA_RETENTION="off",
        BARRIER_RETENTION="off",
    ) as stack:
        by_key = await sagas_by_key(stack)
        status = {k: pb.SagaStatus.Name(s.status) for k, s in by_key.items()}
        assert status["rel-done"] == "COMPLETED" and status["rel-comp"] == "COMPENSATED"
        if within_deadline:
            # The payment committed during the outage: its retry replays it (barrier).
            assert [status[k] for k in LIVE] == ["COMPLETED", "COMPLETED", "COMPENSATED"]
        else:
            # Past the deadline: the payment in flight at the kill may have run, so it is
            # compensated (refunded) with the steps before it.
            assert [status[k] for k in LIVE] == ["COMPENSATED"] * 3
        for key in LIVE:
            saga = by_key[key]
            p = await proof(stack, saga.saga_id)
            if status[key] == "COMPLETED":
                assert (p.seats_held, p.charges, p.refunds) == (1, 1, 0)
                assert p.booking_status == "CONFIRMED"
            else:
                assert p.seats_held == 0 and p.points_delta == 0
                assert p.charged_cents == p.refunded_cents and p.charges == 1
                assert "process_payment" in saga.compensation_order
    head = {s: Migrations(s, "").head for s in SERVICES}
    assert versions(tmp_path) == head


async def test_a_schema_newer_than_the_release_refuses_to_start_naming_both(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'orchestrator.db'}"
    db = connect(url, MIGRATIONS)
    await db.open()
    await db.close()
    conn = sqlite3.connect(tmp_path / "orchestrator.db")
    conn.execute("UPDATE alembic_version SET version_num = '0099'")
    conn.commit()
    conn.close()
    with pytest.raises(ConfigError) as info:
        await connect(url, MIGRATIONS).open()
    message = str(info.value)
    assert message.startswith("DATABASE_URL")
    assert "0099" in message and MIGRATIONS.head in message
    # Untouched: still at the newer version.
    conn = sqlite3.connect(tmp_path / "orchestrator.db")
    assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == "0099"
    conn.close()


def test_a_newer_schema_stops_the_process_with_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    db = tmp_path / "seat.db"
    sqlite3.connect(db).executescript(
        "CREATE TABLE alembic_version (version_num TEXT NOT NULL); "
        "INSERT INTO alembic_version VALUES ('0042');"
    )
    done = subprocess.run(
        [sys.executable, "-m", "seat_service"],
        env={"DATABASE_URL": f"sqlite:///{db}", "LISTEN_ADDR": f"127.0.0.1:{free_port()}"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done
    assert "0042" in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_replicas_starting_together_on_postgresql_migrate_once(pg_cluster: PgCluster) -> None:
    # Replicas of one service start at the same moment on one empty database (compose's HA
    # stack does): every one must come up, the schema created once, at head. Processes, as
    # replicas are (Alembic's context is per process, not per thread).
    url = pg_cluster.new_database("orchestrator")
    code = (
        "import sys; from sagakit.migrate import upgrade; "
        "from orchestrator.engine.store import MIGRATIONS; print(upgrade(sys.argv[1], MIGRATIONS))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(4)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    for proc, (_, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err.decode()[-2000:]
    befores = [out.decode().strip() for out, _ in results]
    # One found it empty and migrated; the others waited and found it at head.
    assert sorted(befores) == sorted(["None"] + [MIGRATIONS.head] * 3), befores
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    assert rows == [(MIGRATIONS.head,)]
