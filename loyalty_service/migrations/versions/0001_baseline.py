"""Baseline: accounts (seeded) and movements (release 0.1.0), with the barrier.

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
CREATE TABLE IF NOT EXISTS accounts (
    account_id TEXT PRIMARY KEY,
    holder_name TEXT NOT NULL,
    tier TEXT NOT NULL,
    balance INTEGER NOT NULL CHECK (balance >= 0)
);
CREATE TABLE IF NOT EXISTS movements (
    id INTEGER PRIMARY KEY,
    saga_id TEXT NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (account_id),
    delta INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('deduction', 'refund')),
    balance_after INTEGER NOT NULL,
    at TEXT NOT NULL,
    UNIQUE (saga_id, kind)
);
INSERT INTO accounts VALUES
    ('LOY-1001', 'Alice Anderson', 'GOLD', 50000),
    ('LOY-1002', 'Bob Brooks', 'SILVER', 12000),
    ('LOY-1003', 'Carol Chen', 'BLUE', 0),
    ('LOY-1004', 'Dmitri Novak', 'PLATINUM', 250000),
    ('LOY-1005', 'Erin Okafor', 'SILVER', 5000),
    ('LOY-1006', 'Farah Haddad', 'BLUE', 1500)
ON CONFLICT (account_id) DO NOTHING;
"""


def upgrade() -> None:
    execute_script(BARRIER_DDL)
    execute_script(DDL)


def downgrade() -> None:
    raise NotImplementedError("schema changes are forward-only")
