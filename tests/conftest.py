"""Shared pytest set-up. Tiers: tests/unit, integration, e2e, browser, chaos
(docs/testing.md#the-tiers).

PostgreSQL (tests/support/postgres.py): `pg_cluster` is one throwaway server for the session;
`database_backend` runs a test once on SQLite and once on PostgreSQL, and `database_url(service)`
gives that backend's database for a service. Tests that need PostgreSQL carry the `postgres`
marker; where it cannot run they are skipped with a loud "POSTGRES TIER NOT RUN" (a failure
under CI / FLIGHTSAGA_REQUIRE_POSTGRES=1).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import postgres as pg

# The kit's `conformance` fixture (participant contract checks), as a saga author would use it.
pytest_plugins = ("testkit.pytest_plugin",)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[pg.PgCluster]:
    """A running throwaway PostgreSQL server (see tests/support/postgres.py)."""
    bin_dir = pg.require_bin_dir()
    try:
        cluster = pg.start_cluster(bin_dir)
    except pg.PostgresUnavailable as exc:
        pg.unavailable(f"PostgreSQL from {bin_dir} did not start: {exc}")
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture(params=pg.BACKENDS)
def database_backend(request: pytest.FixtureRequest) -> str:
    """Each backend ("sqlite", "postgres"): a test using it (or `database_url`) runs on both."""
    return str(request.param)


@pytest.fixture
def database_url(
    database_backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Callable[[str], str]:
    """`database_url(service)`: the service's database on this test's backend. The same service
    gets the same URL within a test (restart a service on its data); each test its own."""
    cluster = request.getfixturevalue("pg_cluster") if database_backend == "postgres" else None
    urls: dict[str, str] = {}

    def url(service: str) -> str:
        if service not in urls:
            urls[service] = pg.database_url(database_backend, tmp_path, service, cluster)
        return urls[service]

    return url


@pytest.fixture
def pg_url(pg_cluster: pg.PgCluster) -> Callable[[str], str]:
    """`pg_url(service)`: the service's own fresh database on the session's PostgreSQL server,
    the same one for every call within a test (replicas of a service share it)."""
    urls: dict[str, str] = {}

    def url(service: str) -> str:
        if service not in urls:
            urls[service] = pg_cluster.new_database(service)
        return urls[service]

    return url


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Mark everything that reaches the cluster, directly or through a "postgres" parameter.
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_postgres = callspec is not None and callspec.params.get("database_backend") == "postgres"
        if "pg_cluster" in getattr(item, "fixturenames", ()) or on_postgres:
            item.add_marker(pytest.mark.postgres)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for message in pg.NOT_RUN:
        terminalreporter.write_sep("!", message, red=True, bold=True)
