"""Baseline: the barrier and a ledger of points movements with no uniqueness, so an effect
applied twice shows twice.

Revision ID: 0001
Revises:
"""

from sagakit.barrier import BASELINE_DDL, CREATED_INDEX_DDL, DIGEST_DDL
from sagakit.migrate import execute_script

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

DDL = """
CREATE TABLE IF NOT EXISTS movements (
    id INTEGER PRIMARY KEY,
    saga_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    delta INTEGER NOT NULL,
    kind TEXT NOT NULL,
    at TEXT NOT NULL
);
"""


def upgrade() -> None:
    execute_script(BASELINE_DDL + CREATED_INDEX_DDL + DIGEST_DDL + DDL)


def downgrade() -> None:
    raise NotImplementedError("schema changes are forward-only")
