"""Saga leases for several orchestrator replicas on one saga log, a sink per outbox row, and
the version of the saga definition each saga started under.

Revision ID: 0003
Revises: 0002
"""

from sagakit.migrate import execute_script

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

DDL = """
ALTER TABLE sagas ADD COLUMN lease_epoch INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sagas ADD COLUMN definition_version INTEGER NOT NULL DEFAULT 1;
CREATE TABLE IF NOT EXISTS saga_leases (
    saga_id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    expires DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS saga_leases_owner ON saga_leases (owner);
ALTER TABLE saga_events ADD COLUMN lease_epoch INTEGER NOT NULL DEFAULT 0;
ALTER TABLE saga_outbox ADD COLUMN sink TEXT NOT NULL DEFAULT '';
"""


def upgrade() -> None:
    """A live saga is driven by the replica named in its saga_leases row until `expires` (seconds
    since the epoch, by the owner's clock). `sagas.lease_epoch` grows with every claim and fences
    writes: a transition is written only while it is still the epoch its driver claimed. Renewals
    write saga_leases alone, so they never conflict with transitions (which write sagas rows). An
    event records the lease epoch it was written under (an audit of who drove what). An outbox
    row names the sink (a replica's bookings log) that must receive the finished saga."""
    execute_script(DDL)


def downgrade() -> None:
    raise NotImplementedError("schema changes are forward-only")
