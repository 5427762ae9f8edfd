"""Baseline: the payment ledger (release 0.1.0), with the barrier.

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
CREATE TABLE IF NOT EXISTS ledger (
    entry_id TEXT PRIMARY KEY,
    saga_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('charge', 'refund')),
    amount_cents INTEGER NOT NULL CHECK (amount_cents >= 0),
    currency TEXT NOT NULL,
    card_last4 TEXT NOT NULL,
    card_brand TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    at TEXT NOT NULL,
    UNIQUE (saga_id, kind)
);
"""


def upgrade() -> None:
    execute_script(BARRIER_DDL)
    execute_script(DDL)


def downgrade() -> None:
    raise NotImplementedError("schema changes are forward-only")
