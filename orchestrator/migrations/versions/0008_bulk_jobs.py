"""Bulk jobs: an operator's resume or cancel of the sagas a filter matches, run server-side in
batches, and the sagas each job took in hand (so a restart neither skips nor repeats one).

Revision ID: 0008
Revises: 0007
"""

from sagakit.migrate import execute_script

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

DDL = """
CREATE TABLE IF NOT EXISTS bulk_jobs (
    job_id TEXT PRIMARY KEY,
    request_id TEXT NOT NULL UNIQUE,
    action TEXT NOT NULL,
    filter TEXT NOT NULL,
    query TEXT NOT NULL,
    state TEXT NOT NULL,
    dry_run INTEGER NOT NULL DEFAULT 0,
    clear_faults INTEGER NOT NULL DEFAULT 0,
    reason TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL DEFAULT '',
    matched INTEGER NOT NULL DEFAULT 0,
    done INTEGER NOT NULL DEFAULT 0,
    skipped INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    cursor_at TEXT,
    cursor_id TEXT,
    owner TEXT,
    epoch INTEGER NOT NULL DEFAULT 0,
    expires DOUBLE PRECISION NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS bulk_jobs_state ON bulk_jobs (state);
CREATE INDEX IF NOT EXISTS bulk_jobs_created ON bulk_jobs (created_at, job_id);
CREATE TABLE IF NOT EXISTS bulk_job_sagas (
    job_id TEXT NOT NULL,
    saga_id TEXT NOT NULL,
    outcome TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (job_id, saga_id)
);
CREATE INDEX IF NOT EXISTS bulk_job_sagas_pending ON bulk_job_sagas (job_id, outcome)
"""


def upgrade() -> None:
    """A job keeps its checked query (JSON of the engine's SagaQuery, its upper created bound
    frozen at the start), its keyset cursor and its counts. A batch's sagas are written to
    bulk_job_sagas with an empty outcome in the same transaction that moves the cursor past
    them, and get their outcome once acted on: after a kill the sagas with none are checked
    against their own events before anything is done to them. `owner`, `epoch` and `expires`
    are the job's lease: one replica drives it; a write is fenced by the epoch it claimed."""
    execute_script(DDL)


def downgrade() -> None:
    raise NotImplementedError("schema changes are forward-only")
