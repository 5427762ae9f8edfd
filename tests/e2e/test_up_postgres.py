"""`flightsaga up --database postgresql://…`: the whole local stack on one PostgreSQL server.

Each service gets a database of its own on the server (NAME_<service>, created when missing);
a booking made through the CLI lands in those databases and is still there after the stack
is stopped and started again on them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.e2e.conftest import local_only
from tests.e2e.tools import BANNER, cli, launch_until_up
from tests.support.dates import flight_date

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, local_only]

SERVICES = ("orchestrator", "seat_service", "loyalty_service", "payment_service", "booking_service")


def test_up_on_postgresql_books_and_keeps_the_booking_across_a_restart(
    tmp_path: Path, pg_cluster: Any
) -> None:
    server = pg_cluster.url_for("fsup")
    up = launch_until_up(tmp_path / "first", dashboard=False, extra=("--database", server))
    try:
        assert "databases on PostgreSQL" in up.output() and "flightsaga:***@" in up.output()
        booked = cli(up.stack(), "book", "--from", "JFK", "--to", "LAX", "--date", flight_date(3))
        assert booked.code == 0, booked
        saga_id = cli(up.stack(), "get", "latest", "--json").out
        assert '"COMPLETED"' in saga_id
    finally:
        assert up.stop() == 0, up.output()[-3000:]

    for service in SERVICES:  # a database each, with its own schema version
        with psycopg.connect(pg_cluster.url_for(f"fsup_{service}")) as conn:
            (version,) = conn.execute("SELECT version_num FROM alembic_version").fetchone() or ("",)
            assert version, service
    with psycopg.connect(pg_cluster.url_for("fsup_orchestrator")) as conn:
        row = conn.execute("SELECT count(*) FROM sagas WHERE status = 'COMPLETED'").fetchone()
        assert row == (1,)

    again = launch_until_up(tmp_path / "second", dashboard=False, extra=("--database", server))
    try:
        listed = cli(again.stack(), "list")
        assert listed.code == 0 and "COMPLETED" in listed.out, listed
    finally:
        again.stop()
    assert BANNER in again.output()


def test_up_with_a_bad_database_url_says_so_in_one_line(tmp_path: Path, pg_cluster: Any) -> None:
    from tests.e2e.tools import FLIGHTSAGA, run

    bad = pg_cluster.url_for("x").replace("flightsaga:flightsaga@", "flightsaga:nope@")
    result = run([FLIGHTSAGA, "up", "--database", bad, "--data-dir", str(tmp_path)], timeout=60)
    assert result.code == 2, result
    assert result.err.startswith("error: --database postgresql://flightsaga:***@"), result
    assert "nope" not in result.err and "Traceback" not in result.err
