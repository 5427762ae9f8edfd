"""Transition writes to the saga log, fenced by the saga's lease epoch.

A transition is one saga row update, its changed step rows, one event, and for a saga that
finishes its outbox row and counts. Consecutive transitions of one saga (an outcome held back
for the next transition) go in one transaction; the saga update matches only while the lease
epoch is still the driver's, and otherwise the whole transaction is undone (LeaseLost). A
completion also needs the row free of an operator's cancel (else CancelRequested, nothing
written), so a saga whose cancel was accepted never ends COMPLETED.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from orchestrator.engine.counts import COUNTS
from orchestrator.engine.errors import CancelRequested, LeaseLost
from orchestrator.engine.model import SagaEvent
from orchestrator.engine.rows import EVENTS, STEP_COLS, cancel_from, event_row
from sagakit import testhooks
from sagakit.db import Conn
from sagakit.inserts import Insert, Rows, insert_all

UPDATE_SAGA = (
    "UPDATE sagas SET status=?, fault_plan=?, updated_at=?, finished_at=?, error=?,"
    " compensation_order=?, event_seq=?, failed_step=?, error_reason=?"
    " WHERE saga_id=? AND lease_epoch=?"
)
UPDATE_COMPLETING = UPDATE_SAGA + " AND cancelled_at IS NULL"
UPDATED = (3, 6, 8, 9, 11, 12, 13, 18, 19)  # the saga_row fields a transition may change, in order
_STEP_UPDATED = [c.strip() for c in STEP_COLS.split(",")][2:]  # all but the key
_UPSERT_STEPS = Insert(
    f"saga_steps ({STEP_COLS})",
    16,
    "ON CONFLICT (saga_id, idx) DO UPDATE SET "
    + ", ".join(f"{c}=excluded.{c}" for c in _STEP_UPDATED),
)
_OUTBOX = Insert(
    "saga_outbox (saga_id, status, sink)",
    3,
    "ON CONFLICT (saga_id) DO UPDATE SET status=excluded.status, sink=excluded.sink",
)


@dataclass(frozen=True)
class Write:
    """One transition of one saga, ready to run inside a transaction (SagaStore.transition)."""

    saga_id: str
    epoch: int
    update: tuple[object, ...]  # UPDATE_SAGA's arguments: the saga row as of the transition
    step_rows: list[tuple[object, ...]]
    event: SagaEvent | None
    outbox: tuple[str, str, str] | None
    counted: list[tuple[int, str, int]] | None
    completes: bool = False  # the saga ends COMPLETED: refused once a cancel is on its row


def rows(writes: Sequence[Write]) -> list[tuple[Insert, Rows]]:
    """Everything but the saga row, of consecutive transitions of one saga: a later
    transition's step row wins over an earlier one's (one statement takes a key once)."""
    steps = {row[1]: row for write in writes for row in write.step_rows}
    events = [event_row(w.event, w.epoch) for w in writes if w.event is not None]
    outbox = [w.outbox for w in writes if w.outbox is not None][-1:]
    counted: Counter[tuple[int, str]] = Counter()
    for write in writes:
        counted.update({(stripe, key): n for stripe, key, n in write.counted or ()})
    return [
        (_UPSERT_STEPS, list(steps.values())),
        (EVENTS, events),
        (_OUTBOX, outbox),
        (COUNTS, [(stripe, key, n) for (stripe, key), n in counted.items()]),
    ]


def write_all(conn: Conn, writes: Sequence[Write]) -> None:
    """Consecutive transitions of one saga in one transaction. The saga row is written once,
    as the last of them left it, and first, so a fenced-off driver stops before it writes
    anything (every transition of a driver carries the same lease epoch); the other rows then
    go in one statement (sagakit/inserts.py)."""
    if not writes:
        return
    last = writes[-1]
    update = UPDATE_COMPLETING if last.completes else UPDATE_SAGA
    if conn.execute(update, last.update).rowcount != 1:
        raise refusal(conn, last)
    testhooks.point("saga-log-transaction")  # the saga row is locked until this commits
    insert_all(conn, rows(writes))


def refusal(conn: Conn, write: Write) -> CancelRequested | LeaseLost:
    """Why the saga row did not take the write: a cancel on it (still under this lease), or
    the lease claimed by another replica."""
    if write.completes:
        row = conn.execute(
            "SELECT lease_epoch, cancelled_by, cancel_reason, cancelled_at FROM sagas"
            " WHERE saga_id=?",
            (write.saga_id,),
        ).fetchone()
        cancel = cancel_from(row) if row is not None and row[0] == write.epoch else None
        if cancel is not None:
            return CancelRequested(cancel)
    return LeaseLost(f"saga {write.saga_id}: lease {write.epoch} was claimed by another replica")
