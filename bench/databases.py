"""The databases the local stack runs on: SQLite files, or PostgreSQL (a throwaway cluster, or a
server given by URL), one fresh set of databases per round.

`--database sqlite,postgres` (or `sqlite,postgresql://…`) measures both in one run, rounds
alternating between them like variants.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from launcher.supervisor import SERVICE_MODULES
from sagakit.config import is_postgres
from sagakit.postgres_db import masked
from tooling.pgcluster import PgCluster, start_cluster
from tooling.pgdatabases import ensure_databases

POSTGRES_CPU = "postgres"  # the CPU figure of a throwaway cluster's processes


@dataclass(frozen=True)
class Backend:
    name: str  # "sqlite", "postgres" (throwaway cluster) or the masked server URL
    server_url: str | None = None  # a PostgreSQL server given by URL

    @property
    def kind(self) -> str:
        return "sqlite" if self.name == "sqlite" else "postgres"


def parse_backends(values: list[str]) -> list[Backend]:
    """`--database` values (repeatable, comma-separated) -> backends.

    `postgres` starts a throwaway local cluster (tooling/pgcluster.py: initdb in a temp dir, a
    free 127.0.0.1 port, fsync and synchronous_commit on) for the whole run and destroys it at
    the end; its CPU (every server process) is reported as `postgres`.
    `postgresql://user:pass@host:port/NAME` uses that server: each round creates databases
    `NAME_b<stamp>r<round>v<i>_<service>` and drops them after it."""
    parts: list[str] = []
    for value in values:
        for part in (p.strip() for p in value.split(",")):
            if parts and "://" in parts[-1] and part not in ("sqlite", "postgres", ""):
                if "://" not in part:  # a comma inside a URL (several hosts, options)
                    parts[-1] += "," + part
                    continue
            parts.append(part)
    out: list[Backend] = []
    for part in parts:
        if not part:
            continue
        if part in ("sqlite", "postgres"):
            backend = Backend(part)
        elif is_postgres(part):
            backend = Backend(masked(part), part)
        else:
            raise ValueError(
                f"--database {masked(part)!r}: expected sqlite, postgres (a throwaway local "
                "cluster) or a postgresql:// URL"
            )
        if backend in out:
            raise ValueError(f"--database {backend.name} given twice")
        out.append(backend)
    return out or [Backend("sqlite")]


class Databases:
    """The PostgreSQL servers of a run: the throwaway cluster, started on first need."""

    def __init__(self, stamp: str) -> None:
        self._stamp = stamp.lower()
        self._cluster: PgCluster | None = None

    def open(self, backends: list[Backend]) -> None:
        """Start the throwaway cluster if a backend needs it (blocking: call in a thread)."""
        if any(b.name == "postgres" for b in backends) and self._cluster is None:
            self._cluster = start_cluster()

    def close(self) -> None:
        if self._cluster is not None:
            self._cluster.destroy()
            self._cluster = None

    def server_pids(self, backend: Backend) -> dict[str, int]:
        """Processes whose CPU the bench reports besides the services' (the local cluster)."""
        if backend.name == "postgres" and self._cluster is not None:
            pid = self._cluster.postmaster_pid
            if pid is not None:
                return {POSTGRES_CPU: pid}
        return {}

    @contextlib.contextmanager
    def for_round(self, backend: Backend, tag: str) -> Iterator[dict[str, str] | None]:
        """Fresh, empty databases for one round (blocking): each service module's
        DATABASE_URL, or None for SQLite files in the stack's data dir."""
        if backend.kind == "sqlite":
            yield None
            return
        if backend.server_url is None:
            assert self._cluster is not None, "open() starts the cluster"
            # The cluster goes at the end of the run: nothing to drop.
            yield ensure_databases(self._cluster.url_for(f"bench_{tag}"), SERVICE_MODULES)
            return
        base, _, name = backend.server_url.rpartition("/")
        name, sep, query = name.partition("?")
        server = f"{base}/{name}_b{self._stamp}{tag}{sep}{query}"
        urls = ensure_databases(server, SERVICE_MODULES)
        try:
            yield urls
        finally:
            drop_databases(backend.server_url, urls.values())


def drop_databases(server_url: str, urls: Iterable[str]) -> None:
    """DROP the databases (by their URLs) the bench created on a server of the user's."""
    import psycopg
    from psycopg import sql

    admin = server_url.rpartition("/")[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        for url in urls:
            name = url.rpartition("/")[2].partition("?")[0]
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
