"""One PostgreSQL server, one database per service.

`flightsaga up --database postgresql://user:pass@host:port/NAME` (and the compose and bench
stacks) run every service on one server, each in a database of its own, `NAME_<service>`:
as with one SQLite file per service, no service can read another's tables, each has its own
migration chain and version, and a service's DATABASE_URL names its database alone.
"""

from __future__ import annotations

from collections.abc import Iterable

from sagakit.config import ConfigError, database_url, is_postgres


def service_url(server_url: str, service: str) -> str:
    """`postgresql://…/NAME` -> `postgresql://…/NAME_<service>`."""
    base, _, name = server_url.rpartition("/")
    name, sep, query = name.partition("?")
    return f"{base}/{name}_{service}{sep}{query}"


def ensure_databases(server_url: str, services: Iterable[str]) -> dict[str, str]:
    """Create the services' databases that do not exist yet; -> service: DATABASE_URL."""
    import psycopg
    from psycopg import sql

    from sagakit.postgres_db import masked

    if not is_postgres(server_url):
        raise ConfigError(f"--database must be a postgresql:// URL, got {server_url!r}")
    database_url(server_url, "--database")
    urls = {s: service_url(server_url, s) for s in services}
    admin = server_url.rpartition("/")[0] + "/postgres"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            for url in urls.values():
                name = url.rpartition("/")[2].partition("?")[0]
                exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                if exists.fetchone() is None:
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.Error as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"--database {masked(server_url)}: {first}") from None
    return urls
