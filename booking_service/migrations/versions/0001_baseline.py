"""Baseline: bookings (release 0.1.0), with the barrier.

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
CREATE TABLE IF NOT EXISTS bookings (
    reference TEXT PRIMARY KEY,
    saga_id TEXT NOT NULL UNIQUE,
    customer_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('CONFIRMED', 'CANCELLED')),
    itinerary TEXT NOT NULL,
    created_at TEXT NOT NULL,
    cancelled_at TEXT
);
"""


def upgrade() -> None:
    execute_script(BARRIER_DDL)
    execute_script(DDL)


def downgrade() -> None:
    raise NotImplementedError("schema changes are forward-only")
