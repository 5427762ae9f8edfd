"""The saga log's cancel columns: an operator's cancel put on a saga's row, and the running
sagas whose driver has yet to act on one. Each function runs inside the caller's transaction
or read."""

from __future__ import annotations

from orchestrator.engine.model import CancelRequest, SagaRecord, SagaStatus
from orchestrator.engine.rows import cancel_from, load
from sagakit.db import Conn

_MARK = (
    "UPDATE sagas SET cancelled_by=?, cancel_reason=?, cancelled_at=?"
    " WHERE saga_id=? AND status=? AND cancelled_at IS NULL"
)
# Its WHERE is the partial index sagas_cancel_pending's, word for word (migration 0007).
_PENDING = (
    "SELECT saga_id, cancelled_by, cancel_reason, cancelled_at FROM sagas"
    " WHERE cancelled_at IS NOT NULL AND status = 'RUNNING'"
)


def request_cancel(conn: Conn, saga_id: str, request: CancelRequest) -> SagaRecord | None:
    found = load(conn, "saga_id=?", (saga_id,))
    if not found:
        return None
    saga = found[0]
    if saga.status == SagaStatus.RUNNING and saga.cancel is None:
        args = (request.by, request.reason, request.at, saga_id, SagaStatus.RUNNING.value)
        conn.execute(_MARK, args)
        saga.cancel = request
    return saga


def pending_cancels(conn: Conn) -> list[tuple[str, CancelRequest]]:
    out = []
    for row in conn.execute(_PENDING).fetchall():
        cancel = cancel_from(row)
        if cancel is not None:
            out.append((row["saga_id"], cancel))
    return out
