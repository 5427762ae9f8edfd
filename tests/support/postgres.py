"""A throwaway PostgreSQL cluster for the test session, and the SQLite/PostgreSQL test matrix.

The cluster is tooling/pgcluster.py (the bench starts one too; everything is re-exported here),
with durability on (durability is what the suite tests). The session fixture destroys it in its
finalizer, and a watchdog process does when the test process goes away by any other means.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from _pytest.mark.structures import ParameterSet

from tooling.pgcluster import (
    ADMIN_PASSWORD,
    ADMIN_ROLE,
    PASSWORD,
    ROLE,
    SETTINGS,
    SYSTEM_USER,
    PgCluster,
    PostgresUnavailable,
    find_bin_dir,
    start_cluster,
)

# The cluster itself is tooling/pgcluster.py (the bench starts one too); re-exported here.
__all__ = [
    "ADMIN_PASSWORD",
    "ADMIN_ROLE",
    "BACKENDS",
    "NOT_RUN",
    "PASSWORD",
    "ROLE",
    "SETTINGS",
    "SYSTEM_USER",
    "PgCluster",
    "PostgresUnavailable",
    "database_url",
    "find_bin_dir",
    "require_bin_dir",
    "required",
    "start_cluster",
    "unavailable",
]

# Parameters for a suite run on both backends: `@pytest.fixture(params=BACKENDS)` or
# `@pytest.mark.parametrize("database_backend", BACKENDS)`. The postgres one carries the
# `postgres` marker, so `-m "not postgres"` runs SQLite only.
BACKENDS: list[ParameterSet] = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]

NOT_RUN: list[str] = []  # banners printed in the terminal summary (tests/conftest.py)


def required() -> bool:
    """True when a missing PostgreSQL must fail the run (CI)."""
    return any(
        os.environ.get(v, "") not in ("", "0") for v in ("CI", "FLIGHTSAGA_REQUIRE_POSTGRES")
    )


def unavailable(reason: str) -> None:
    """Skip (loudly) or, under CI / FLIGHTSAGA_REQUIRE_POSTGRES, fail: PostgreSQL cannot run.

    Skipped with a loud "POSTGRES TIER NOT RUN: <why>" in the terminal summary; under CI=1 or
    FLIGHTSAGA_REQUIRE_POSTGRES=1 that is a failure instead."""
    message = f"POSTGRES TIER NOT RUN: {reason}"
    if message not in NOT_RUN:
        NOT_RUN.append(message)
    if required():
        pytest.fail(f"{message} (required because CI / FLIGHTSAGA_REQUIRE_POSTGRES is set)")
    pytest.skip(f"{message} -- install it with `apt-get install -y postgresql`")


def require_bin_dir() -> Path:
    """find_bin_dir(), or a loud skip (a failure under CI) when PostgreSQL is not installed."""
    try:
        return find_bin_dir()
    except PostgresUnavailable as exc:
        unavailable(str(exc))
        raise  # unreachable: unavailable() raises


def database_url(
    backend: str, directory: Path, service: str, cluster: PgCluster | None = None
) -> str:
    """A database for `service`: `sqlite:///<directory>/<service>.db`, or for "postgres" a
    fresh database on `cluster`."""
    if backend == "sqlite":
        return f"sqlite:///{directory / f'{service}.db'}"
    if backend == "postgres":
        if cluster is None:
            raise ValueError("the postgres backend needs the pg_cluster fixture")
        return cluster.new_database(service)
    raise ValueError(f"unknown database backend {backend!r} (sqlite or postgres)")
