"""Baseline: cities (seeded) and stays, with the barrier and its marks by age.

Revision ID: 0001
Revises:
"""

from sagakit.barrier import BASELINE_DDL as BARRIER_DDL
from sagakit.barrier import CREATED_INDEX_DDL
from sagakit.migrate import execute_script

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

DDL = """
CREATE TABLE IF NOT EXISTS cities (
    city TEXT PRIMARY KEY,
    rooms_left INTEGER NOT NULL CHECK (rooms_left >= 0),
    nightly_cents INTEGER NOT NULL CHECK (nightly_cents > 0)
);
CREATE TABLE IF NOT EXISTS stays (
    saga_id TEXT PRIMARY KEY,
    guest TEXT NOT NULL,
    city TEXT NOT NULL REFERENCES cities (city),
    check_in TEXT NOT NULL,
    nights INTEGER NOT NULL CHECK (nights BETWEEN 1 AND 30),
    price_cents INTEGER NOT NULL CHECK (price_cents >= 0),
    state TEXT NOT NULL CHECK (state IN ('booked', 'cancelled')),
    at TEXT NOT NULL
);
INSERT INTO cities VALUES
    ('LIS', 120, 9500),
    ('PAR', 80, 18000),
    ('NYC', 50, 24000),
    ('SLD', 0, 12000)
ON CONFLICT (city) DO NOTHING;
"""


def upgrade() -> None:
    execute_script(BARRIER_DDL)
    execute_script(CREATED_INDEX_DDL)
    execute_script(DDL)


def downgrade() -> None:
    raise NotImplementedError("schema changes are forward-only")
