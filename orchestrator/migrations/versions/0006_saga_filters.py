"""What sagas are found by (SagaFilter): who started each, for which customer and flights, and
the step and reason of its latest failure, in indexed columns; every filter reads an index.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import re
from typing import Any

from sagakit.migrate import execute_script

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

DDL = """
ALTER TABLE sagas ADD COLUMN owner TEXT;
ALTER TABLE sagas ADD COLUMN customer_id TEXT;
ALTER TABLE sagas ADD COLUMN failed_step TEXT;
ALTER TABLE sagas ADD COLUMN error_reason TEXT;
CREATE TABLE IF NOT EXISTS saga_flights (
    flight_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    saga_id TEXT NOT NULL,
    PRIMARY KEY (flight_id, created_at, saga_id)
);
CREATE INDEX IF NOT EXISTS saga_flights_saga ON saga_flights (saga_id);
CREATE INDEX IF NOT EXISTS sagas_owner_keyset ON sagas (owner, created_at, saga_id);
CREATE INDEX IF NOT EXISTS sagas_customer_keyset ON sagas (customer_id, created_at, saga_id);
CREATE INDEX IF NOT EXISTS sagas_definition_keyset ON sagas (definition, created_at, saga_id);
CREATE INDEX IF NOT EXISTS sagas_failed_step_keyset ON sagas (failed_step, created_at, saga_id)
    WHERE failed_step IS NOT NULL;
CREATE INDEX IF NOT EXISTS sagas_error_reason_keyset ON sagas (error_reason, created_at, saga_id)
    WHERE error_reason IS NOT NULL
"""

BATCH = 1000
_CODE = re.compile(r"^([A-Z][A-Z_]+):")


def upgrade() -> None:
    """The columns are filled for the sagas already logged: the booking's owner, customer and
    flights from its input (a saga of another type started before this revision has none: a
    booker does not list it, readers do); the step of the latest failure (the last step that
    started, or the one whose compensation failed for a FAILED saga) and its status code as
    the reason (the participant's ErrorInfo reason was not kept before)."""
    from alembic import op

    execute_script(DDL)
    conn = op.get_bind()
    last = ""
    while True:
        rows = conn.exec_driver_sql(
            _sql(
                conn,
                "SELECT saga_id, definition, payload, created_at, status FROM sagas"
                " WHERE saga_id > ? ORDER BY saga_id LIMIT ?",
            ),
            (last, BATCH),
        ).fetchall()
        if not rows:
            return
        for row in rows:
            _backfill(conn, row)
        last = rows[-1][0]


def _sql(conn: Any, sql: str) -> str:
    return sql if conn.dialect.name == "sqlite" else sql.replace("?", "%s")


def _backfill(conn: Any, row: Any) -> None:
    saga_id, definition, payload, created_at, status = row
    owner = customer = None
    flights: list[str] = []
    if definition == "book_flight":  # the booking saga, whose input is a BookFlightRequest
        from flightsaga.v1 import orchestrator_pb2

        request = orchestrator_pb2.BookFlightRequest.FromString(bytes(payload))
        owner, customer, flights = request.owner, request.customer_id, list(request.flight_ids)
    step, reason = _failure(conn, saga_id, status)
    conn.exec_driver_sql(
        _sql(
            conn,
            "UPDATE sagas SET owner=?, customer_id=?, failed_step=?, error_reason=?"
            " WHERE saga_id=?",
        ),
        (owner, customer or None, step, reason, saga_id),
    )
    for flight in dict.fromkeys(flights):
        conn.exec_driver_sql(
            _sql(
                conn, "INSERT INTO saga_flights (flight_id, created_at, saga_id) VALUES (?, ?, ?)"
            ),
            (flight, created_at, saga_id),
        )


def _failure(conn: Any, saga_id: str, status: str) -> tuple[str | None, str | None]:
    if status in ("RUNNING", "COMPLETED"):
        return None, None
    steps = conn.exec_driver_sql(
        _sql(
            conn,
            "SELECT name, state, started_at, error, compensation_error FROM saga_steps"
            " WHERE saga_id=? ORDER BY idx",
        ),
        (saga_id,),
    ).fetchall()
    if status == "FAILED":
        stuck = [s for s in steps if s[1] == "COMPENSATION_FAILED"]
        if stuck:
            return stuck[-1][0], _reason(stuck[-1][4])
    started = [s for s in steps if s[2] is not None]
    if not started:
        return None, None
    return started[-1][0], _reason(started[-1][3])


def _reason(error: str | None) -> str | None:
    found = _CODE.match(error or "")
    return found.group(1) if found else None


def downgrade() -> None:
    raise NotImplementedError("schema changes are forward-only")
