"""The database a service's DATABASE_URL names: SQLite (a file path) or PostgreSQL."""

from __future__ import annotations

from sagakit.config import is_postgres, sqlite_file
from sagakit.db import Database
from sagakit.migrate import Migrations
from sagakit.pgsession import SessionBound
from sagakit.postgres_db import PostgresDatabase
from sagakit.sqlite_db import SqliteDatabase


def connect(
    url: str, schema: Migrations | str, synchronous: str = "FULL", hold_s: float | None = None
) -> Database:
    """The database at DATABASE_URL `url` (not opened yet). `hold_s`: on PostgreSQL, how long
    one of this process's transactions may hold rows (pgsession.SessionBound)."""
    if is_postgres(url):
        if not isinstance(schema, Migrations):
            raise TypeError("a PostgreSQL database is set up by migrations")
        bound = SessionBound(hold_s) if hold_s is not None else None
        return PostgresDatabase(url, schema, bound=bound)
    return SqliteDatabase(sqlite_file(url), schema, synchronous)
