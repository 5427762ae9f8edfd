"""What keeps the saga log's reads flat as it grows: counts of the finished sagas (GetStats
and a restart never count the whole log), and keyset indexes for ListSagas' pages.

Revision ID: 0004
Revises: 0003
"""

from sagakit.migrate import execute_script

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

DDL = """
CREATE TABLE IF NOT EXISTS saga_counts (
    stripe INTEGER NOT NULL,
    key TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (stripe, key)
);
INSERT INTO saga_counts (stripe, key, n)
    SELECT 0, status, COUNT(*) FROM sagas
    WHERE status IN ('COMPLETED', 'COMPENSATED') GROUP BY status;
INSERT INTO saga_counts (stripe, key, n)
    SELECT 0, 'all:' || st.state, COUNT(*) FROM saga_steps st JOIN sagas s USING (saga_id)
    WHERE s.status IN ('COMPLETED', 'COMPENSATED') GROUP BY st.state;
CREATE INDEX IF NOT EXISTS sagas_created_keyset ON sagas (created_at, saga_id);
CREATE INDEX IF NOT EXISTS sagas_status_keyset ON sagas (status, created_at, saga_id);
DROP INDEX IF EXISTS sagas_created;
DROP INDEX IF EXISTS sagas_status;
"""


def upgrade() -> None:
    """A saga adds itself to saga_counts once, in the transaction that finishes it (COMPLETED or
    COMPENSATED: final, never resumed): its status, and the state each of its steps ended in
    (`all:<state>`). Retention takes deleted sagas off again. The rest of the counts (live and
    FAILED sagas, their steps) are counted from those sagas alone, through the status index: a
    number that stays small however long the log grows.

    A writer adds to one of several stripes (by saga id), so that concurrent transactions (of one
    replica or of several) rarely touch the same row; the count is the sum over the stripes.
    PostgreSQL runs every transaction SERIALIZABLE: two writers of one row would make one of them
    start over. This revision seeds the counts from the sagas already finished (one count, at
    upgrade).

    A ListSagas page starts after the (created_at, saga_id) the previous one ended with. The
    indexes on created_at alone made a page deep in the log sort every saga before it (the
    tie-break on saga_id is not in them): on (created_at, saga_id), and (status, created_at,
    saga_id) for a status filter, a page is an index range read in order, however deep. They
    replace the two."""
    execute_script(DDL)


def downgrade() -> None:
    raise NotImplementedError("schema changes are forward-only")
