"""Baseline: the saga log of release 0.1.0 (sagas, their steps, their events).

Revision ID: 0001
Revises:
"""

from sagakit.migrate import execute_script

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

DDL = """
CREATE TABLE IF NOT EXISTS sagas (
    saga_id TEXT PRIMARY KEY,
    definition TEXT NOT NULL,
    correlation_id TEXT NOT NULL,
    status TEXT NOT NULL,
    payload BLOB NOT NULL,
    idempotency_key TEXT UNIQUE,
    fault_plan TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    finished_at TEXT,
    deadline_at TEXT,
    error TEXT NOT NULL DEFAULT '',
    compensation_order TEXT NOT NULL DEFAULT '[]',
    event_seq INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS sagas_status ON sagas (status, created_at);
CREATE INDEX IF NOT EXISTS sagas_created ON sagas (created_at);
CREATE TABLE IF NOT EXISTS saga_steps (
    saga_id TEXT NOT NULL REFERENCES sagas (saga_id),
    idx INTEGER NOT NULL,
    name TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    compensation_attempts INTEGER NOT NULL DEFAULT 0,
    compensation_round INTEGER NOT NULL DEFAULT 0,
    uncertain INTEGER NOT NULL DEFAULT 0,
    started_at TEXT,
    finished_at TEXT,
    compensation_started_at TEXT,
    compensated_at TEXT,
    result TEXT,
    error TEXT NOT NULL DEFAULT '',
    compensation_result TEXT,
    compensation_error TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (saga_id, idx)
);
CREATE INDEX IF NOT EXISTS saga_steps_state ON saga_steps (state);
CREATE TABLE IF NOT EXISTS saga_events (
    saga_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    type TEXT NOT NULL,
    step TEXT NOT NULL DEFAULT '',
    attempt INTEGER NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT '',
    at TEXT NOT NULL,
    status TEXT NOT NULL,
    correlation_id TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (saga_id, seq)
);
"""


def upgrade() -> None:

    execute_script(DDL)


def downgrade() -> None:
    raise NotImplementedError("schema changes are forward-only")
