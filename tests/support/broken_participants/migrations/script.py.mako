"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
"""

from sagakit.migrate import execute_script

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = None
depends_on = None

DDL = """
"""


def upgrade() -> None:
    execute_script(DDL)


def downgrade() -> None:
    raise NotImplementedError("schema changes are forward-only")
