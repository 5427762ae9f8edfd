"""The throwaway PostgreSQL cluster of the test suite (tests/support/postgres.py) itself."""

from __future__ import annotations

import os
import pwd
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import postgres as pg

REPO = Path(__file__).resolve().parents[2]


def scalar(url: str, query: str) -> object:
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        row = conn.execute(query.encode()).fetchone()
    assert row is not None
    return row[0]


def test_cluster_runs_unprivileged_on_loopback(pg_cluster: pg.PgCluster) -> None:
    assert pg_cluster.running
    assert pg_cluster.port > 0
    assert pg_cluster.admin_url.endswith(f"@127.0.0.1:{pg_cluster.port}/postgres")
    assert scalar(pg_cluster.admin_url, "SHOW listen_addresses") == "127.0.0.1"
    owner = pg_cluster.data.stat().st_uid
    if os.geteuid() == 0:
        assert owner == pwd.getpwnam("postgres").pw_uid != 0
    else:
        assert owner == os.geteuid()


def test_new_database_takes_the_password_url(pg_cluster: pg.PgCluster) -> None:
    import psycopg

    url = pg_cluster.new_database("seat")
    assert url.startswith(f"postgresql://flightsaga:flightsaga@127.0.0.1:{pg_cluster.port}/seat_")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY)")
        conn.execute("INSERT INTO t VALUES (1)")
        assert conn.execute("SELECT current_user, count(*) FROM t").fetchone() == ("flightsaga", 1)
    wrong = url.replace("flightsaga:flightsaga@", "flightsaga:wrong@")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong, connect_timeout=10)


def test_durability_settings_stay_on(pg_cluster: pg.PgCluster) -> None:
    url = pg_cluster.new_database("settings")
    assert scalar(url, "SHOW synchronous_commit") == "on"
    assert scalar(url, "SHOW fsync") == "on"
    assert int(str(scalar(url, "SHOW max_connections"))) >= 300


def test_two_new_databases_are_distinct_and_empty(pg_cluster: pg.PgCluster) -> None:
    import psycopg

    first, second = pg_cluster.new_database("orch"), pg_cluster.new_database("orch")
    assert first != second
    with psycopg.connect(first, autocommit=True) as conn:
        conn.execute("CREATE TABLE only_in_first (id int)")
    tables = (
        "SELECT count(*) FROM pg_tables"
        " WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
    )
    assert scalar(first, tables) == 1
    assert scalar(second, tables) == 0


def test_stop_and_start_keep_the_data(pg_cluster: pg.PgCluster) -> None:
    import psycopg

    url = pg_cluster.new_database("restart")
    conn = psycopg.connect(url, autocommit=True)
    conn.execute("CREATE TABLE t (id int)")
    conn.execute("INSERT INTO t VALUES (7)")
    pg_cluster.stop()
    try:
        assert not pg_cluster.running
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT 1")
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(url, connect_timeout=2)
    finally:
        conn.close()
        pg_cluster.start()
    assert pg_cluster.running
    assert scalar(url, "SELECT sum(id) FROM t") == 7


def test_a_crash_stop_recovers_committed_rows(pg_cluster: pg.PgCluster) -> None:
    import psycopg

    url = pg_cluster.new_database("crash")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int)")
        conn.execute("INSERT INTO t SELECT generate_series(1, 100)")
    with pg_cluster.stopped(mode="immediate"):
        assert not pg_cluster.running
    assert scalar(url, "SELECT count(*) FROM t") == 100


def test_terminate_connections_ends_service_sessions(pg_cluster: pg.PgCluster) -> None:
    import psycopg

    url = pg_cluster.new_database("term")
    with psycopg.connect(url, autocommit=True) as conn:
        assert pg_cluster.terminate_connections(url.rsplit("/", 1)[1]) == 1
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT 1")


def test_database_url_per_backend(
    database_backend: str, database_url: Callable[[str], str], tmp_path: Path
) -> None:
    seat = database_url("seat")
    assert database_url("seat") == seat  # the same service: the same database
    assert database_url("payment") != seat
    if database_backend == "sqlite":
        assert seat == f"sqlite:///{tmp_path / 'seat.db'}"
    else:
        assert seat.startswith("postgresql://flightsaga:flightsaga@127.0.0.1:")
        assert scalar(seat, "SELECT current_database()") == seat.rsplit("/", 1)[1]


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.postgres
def test_no_server_outlives_a_killed_test_process() -> None:
    """kill -9 of the process that started a cluster: its watchdog stops it and cleans up."""
    pg.require_bin_dir()
    script = (
        "import time\nfrom tests.support.postgres import start_cluster\n"
        "c = start_cluster()\nprint(c.root, c.port, flush=True)\ntime.sleep(120)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        root, port = proc.stdout.readline().split()
        assert _port_open(int(port))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 30
    while (Path(root).exists() or _port_open(int(port))) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _port_open(int(port)), "the server outlived the process that started it"
    assert not Path(root).exists()


def test_missing_postgres_is_a_loud_skip_or_a_ci_failure(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(pg, "NOT_RUN", [])
    monkeypatch.setenv("FLIGHTSAGA_PG_BIN", str(tmp_path))
    with pytest.raises(pg.PostgresUnavailable, match="no initdb"):
        pg.find_bin_dir()
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("FLIGHTSAGA_REQUIRE_POSTGRES", raising=False)
    with pytest.raises(pytest.skip.Exception, match="POSTGRES TIER NOT RUN: gone"):
        pg.unavailable("gone")
    monkeypatch.setenv("FLIGHTSAGA_REQUIRE_POSTGRES", "1")
    with pytest.raises(pytest.fail.Exception, match="POSTGRES TIER NOT RUN: gone"):
        pg.unavailable("gone")
    assert pg.NOT_RUN == ["POSTGRES TIER NOT RUN: gone"]
