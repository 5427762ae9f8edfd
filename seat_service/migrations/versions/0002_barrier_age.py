"""The barrier's marks by age, for retention (sagakit.barrier.prune).

Revision ID: 0002
Revises: 0001
"""

from sagakit.barrier import CREATED_INDEX_DDL
from sagakit.migrate import execute_script

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(CREATED_INDEX_DDL)


def downgrade() -> None:
    raise NotImplementedError("schema changes are forward-only")
