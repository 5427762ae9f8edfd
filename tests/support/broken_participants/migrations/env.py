"""Alembic environment of this service's migrations (sagakit.migrate runs them)."""

from sagakit.migrate import run_env

run_env()
