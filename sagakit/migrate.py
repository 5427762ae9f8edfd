"""Schema versions and migrations, with Alembic, for every service's database.

Each service keeps one chain of plain Alembic revisions in `<package>/migrations/versions/`;
the version lives in the database's `alembic_version` table. A service upgrades its database
at start (`upgrade`) or by `flightsaga migrate`; a database at a version this release does not
know (written by a newer release) is refused with both versions named, never touched.
Revisions write their DDL once, in SQLite's dialect; `portable` turns it into PostgreSQL's.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sagakit.config import ConfigError

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger("sagakit.migrate")

VERSION_TABLE = "alembic_version"
BASELINE = "0001"
# The PostgreSQL advisory lock that serialises migrations of one database (any fixed key: each
# service has a database of its own).
MIGRATE_LOCK = 0x466C5367  # "FlSg"


class SchemaTooNew(ConfigError):
    """The database was written by a newer release."""


@dataclass(frozen=True)
class Migrations:
    """One service's migration chain."""

    package: str  # e.g. "seat_service": revisions in seat_service/migrations/versions
    marker_table: str  # a baseline table: its presence without a version means release 0.1.0

    @property
    def location(self) -> Path:
        import importlib

        module = importlib.import_module(self.package)
        assert module.__file__ is not None
        return Path(module.__file__).parent / "migrations"

    def config(self, connection: Any = None) -> Config:
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(self.location))
        cfg.attributes["connection"] = connection
        return cfg

    @cached_property
    def head(self) -> str:
        from alembic.script import ScriptDirectory

        head = ScriptDirectory.from_config(self.config()).get_current_head()
        assert head is not None, f"{self.package} has no migrations"
        return head

    def knows(self, revision: str) -> bool:
        from alembic.script import ScriptDirectory
        from alembic.util import CommandError

        try:
            return ScriptDirectory.from_config(self.config()).get_revision(revision) is not None
        except CommandError:
            return False


def sqlalchemy_url(url: str) -> str:
    """Our DATABASE_URL in SQLAlchemy's spelling (psycopg 3 as the PostgreSQL driver)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def check_version(current: str | None, migrations: Migrations) -> bool:
    """True if the database is at head; raises if it is ahead of this release."""
    if current is None:
        return False
    if current == migrations.head:
        return True
    if not migrations.knows(current):
        raise SchemaTooNew(
            f"DATABASE_URL: the database's schema is at version {current}, newer than this "
            f"release of {migrations.package} knows (its newest is {migrations.head}); "
            "run the release that wrote it, or a newer one"
        )
    return False


def upgrade(url: str, migrations: Migrations) -> str | None:
    """Bring the database at `url` to this release's schema; returns the version it was at.

    A SQLite file written before migrations existed (release 0.1.0 created its tables with
    CREATE TABLE IF NOT EXISTS) holds exactly the baseline revision's tables: it is stamped
    with the baseline, then upgraded like any other."""
    # Alembic's own INFO lines (plugins set up at import, each step) are noise in a service's
    # log: one line of ours says what changed.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    import sqlalchemy as sa
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    engine = sa.create_engine(sqlalchemy_url(url), poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Replicas of a service start together on one database: one migrates, the
                # others wait here (the lock ends with this transaction) and then find it at
                # head. Without it both created alembic_version and one died on its key.
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATE_LOCK})
            before = MigrationContext.configure(conn).get_current_revision()
            if check_version(before, migrations):
                return before
            cfg = migrations.config(conn)
            if before is None and sa.inspect(conn).has_table(migrations.marker_table):
                command.stamp(cfg, BASELINE)  # written by release 0.1.0, before migrations
                before = BASELINE
            command.upgrade(cfg, "head")
            log.info(
                "database schema of %s: %s -> %s",
                migrations.package,
                before or "empty",
                migrations.head,
            )
            return before
    finally:
        engine.dispose()


def run_env() -> None:
    """The body of every service's migrations/env.py: run online, on the connection given."""
    from alembic import context

    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("migrations run through sagakit.migrate.upgrade (a connection)")
    context.configure(connection=connection, version_table=VERSION_TABLE)
    with context.begin_transaction():
        context.run_migrations()


_PG = (
    (re.compile(r"\bINTEGER PRIMARY KEY\b"), "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"),
    (re.compile(r"\bBLOB\b"), "BYTEA"),
    (re.compile(r"\bINTEGER\b"), "BIGINT"),
)


def portable(sql: str, dialect: str) -> str:
    """SQLite DDL as `dialect` needs it (types only: the statements are standard SQL)."""
    if dialect == "sqlite":
        return sql
    for pattern, replacement in _PG:
        sql = pattern.sub(replacement, sql)
    return sql


def execute_script(sql: str) -> None:
    """Run a revision's DDL (`;`-separated statements) in the migration's dialect."""
    from alembic import op

    dialect = op.get_bind().dialect.name
    for statement in portable(sql, dialect).split(";"):
        if statement.strip():
            op.execute(statement)
