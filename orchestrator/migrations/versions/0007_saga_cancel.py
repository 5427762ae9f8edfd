"""An operator's cancel of a running saga (CancelSaga): who asked, why and when, on the saga's
row, so that it survives a crash and every replica sees it.

Revision ID: 0007
Revises: 0005
"""

from sagakit.migrate import execute_script

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

DDL = """
ALTER TABLE sagas ADD COLUMN cancelled_by TEXT NOT NULL DEFAULT '';
ALTER TABLE sagas ADD COLUMN cancel_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE sagas ADD COLUMN cancelled_at TEXT;
CREATE INDEX IF NOT EXISTS sagas_cancel_pending ON sagas (saga_id)
    WHERE cancelled_at IS NOT NULL AND status = 'RUNNING';
"""


def upgrade() -> None:
    """CancelSaga writes the three columns on any replica (not fenced by the lease: it is a
    request to the driver, not a transition). The driver reads them when it claims the saga, is
    told at once when the request reaches its own replica, and otherwise finds it through the
    partial index, which holds only the running sagas with a cancel not yet acted on: a read
    that stays small however long the log grows. A completion is written only while no cancel
    is on the row, so a saga whose cancel was accepted never ends COMPLETED."""
    execute_script(DDL)


def downgrade() -> None:
    raise NotImplementedError("schema changes are forward-only")
