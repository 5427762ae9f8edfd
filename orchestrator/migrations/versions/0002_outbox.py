"""The outbox of finished sagas for the bookings log, and the engine's key-value table.

Revision ID: 0002
Revises: 0001
"""

from sagakit.migrate import execute_script

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

DDL = """
CREATE TABLE IF NOT EXISTS saga_outbox (
    saga_id TEXT PRIMARY KEY,
    status TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS engine_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


def upgrade() -> None:
    execute_script(DDL)


def downgrade() -> None:
    raise NotImplementedError("schema changes are forward-only")
