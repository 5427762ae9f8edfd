"""A bulk job's sagas by saga, so retention deletes a pruned saga's bulk_job_sagas rows
through an index.

Revision ID: 0009
Revises: 0008
"""

from sagakit.migrate import execute_script

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

DDL = "CREATE INDEX IF NOT EXISTS bulk_job_sagas_saga ON bulk_job_sagas (saga_id)"


def upgrade() -> None:
    execute_script(DDL)


def downgrade() -> None:
    raise NotImplementedError("schema changes are forward-only")
