"""The card vault: what a charge needs of a tokenised card (never its number or CVC).

Revision ID: 0002
Revises: 0001
"""

from sagakit.migrate import execute_script

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

DDL = """
CREATE TABLE IF NOT EXISTS card_vault (
    token TEXT PRIMARY KEY,
    last4 TEXT NOT NULL,
    brand TEXT NOT NULL,
    decline_reason TEXT,
    exp_month INTEGER NOT NULL,
    exp_year INTEGER NOT NULL,
    holder_name TEXT NOT NULL,
    created_at TEXT NOT NULL
);
"""


def upgrade() -> None:
    execute_script(DDL)


def downgrade() -> None:
    raise NotImplementedError("schema changes are forward-only")
