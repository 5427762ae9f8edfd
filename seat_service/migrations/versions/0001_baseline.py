"""Baseline: seat holds (the schema of release 0.1.0), with the barrier.

Revision ID: 0001
Revises:
"""

from sagakit.barrier import BASELINE_DDL as BARRIER_DDL
from sagakit.migrate import execute_script

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

DDL = """
CREATE TABLE IF NOT EXISTS seat_holds (
    id INTEGER PRIMARY KEY,
    saga_id TEXT NOT NULL,
    flight_id TEXT NOT NULL,
    seat TEXT NOT NULL,
    passenger_index INTEGER NOT NULL,
    cabin INTEGER NOT NULL,
    held_at TEXT NOT NULL,
    released_at TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS seat_holds_active
    ON seat_holds (flight_id, seat) WHERE released_at IS NULL;
CREATE INDEX IF NOT EXISTS seat_holds_saga ON seat_holds (saga_id);
"""


def upgrade() -> None:
    execute_script(BARRIER_DDL)
    execute_script(DDL)


def downgrade() -> None:
    raise NotImplementedError("schema changes are forward-only")
