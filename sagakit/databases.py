"""The database a service's DATABASE_URL names: SQLite (a file path) or PostgreSQL."""

from __future__ import annotations

from sagakit.config import is_postgres, sqlite_file
from sagakit.db import Database
from sagakit.migrate import Migrations
from sagakit.postgres_db import PostgresDatabase
from sagakit.sqlite_db import SqliteDatabase


def connect(url: str, schema: Migrations | str, synchronous: str = "FULL") -> Database:
    """The database at DATABASE_URL `url` (not opened yet)."""
    if is_postgres(url):
        if not isinstance(schema, Migrations):
            raise TypeError("a PostgreSQL database is set up by migrations")
        return PostgresDatabase(url, schema)
    return SqliteDatabase(sqlite_file(url), schema, synchronous)
