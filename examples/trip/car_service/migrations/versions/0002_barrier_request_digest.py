"""The barrier keeps the digest of each saga's first Do request, so a Do with another body for
the same saga is refused (sagakit.barrier.do).

Revision ID: 0002
Revises: 0001
"""

from sagakit.barrier import DIGEST_DDL
from sagakit.migrate import execute_script

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(DIGEST_DDL)


def downgrade() -> None:
    raise NotImplementedError("schema changes are forward-only")
