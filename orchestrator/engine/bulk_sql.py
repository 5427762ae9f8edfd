"""The bulk_jobs and bulk_job_sagas tables (migration 0008): a job's row, its lease, its
batches and the outcome of each saga it took in hand. Plain functions of a connection, run in
the saga log's transactions by bulk_jobs.py and the API."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace

from orchestrator.engine.errors import LeaseLost
from orchestrator.engine.model import SagaStatus, now
from orchestrator.engine.saga_query import Key, SagaQuery, count, where
from sagakit.db import Conn

# Job states (the API's BulkJobState without its prefix).
PLANNED, RUNNING, STOPPING, STOPPED, DONE, FAILED = (
    "PLANNED",
    "RUNNING",
    "STOPPING",
    "STOPPED",
    "DONE",
    "FAILED",
)
LIVE = (RUNNING, STOPPING)  # a replica drives these
ENDED = (PLANNED, STOPPED, DONE, FAILED)  # nothing changes these any more (a dry run: PLANNED)
# A saga's outcome in a job ('' while it is taken in hand and not yet acted on).
ACTED, SKIPPED, REFUSED = "done", "skipped", "failed"


@dataclass
class BulkJob:
    job_id: str
    request_id: str
    action: str  # RESUME or CANCEL
    filter: str  # the API's SagaFilter as JSON, as run (shown back)
    query: SagaQuery
    state: str
    dry_run: bool = False
    clear_faults: bool = False
    reason: str = ""
    created_by: str = ""
    matched: int = 0
    done: int = 0
    skipped: int = 0
    failed: int = 0
    last_error: str = ""
    cursor: Key | None = None
    epoch: int = 0
    created_at: str = field(default_factory=now)
    updated_at: str = field(default_factory=now)


_COLS = (
    "job_id, request_id, action, filter, query, state, dry_run, clear_faults, reason, "
    "created_by, matched, done, skipped, failed, last_error, cursor_at, cursor_id, epoch, "
    "created_at, updated_at"
)


def query_json(q: SagaQuery) -> str:
    d = asdict(q)
    d["statuses"] = [s.value for s in q.statuses]
    return json.dumps(d, sort_keys=True)


def query_from(text: str) -> SagaQuery:
    d = json.loads(text)
    known = {f.name for f in fields(SagaQuery)}
    d = {k: v for k, v in d.items() if k in known}
    return SagaQuery(**{**d, "statuses": tuple(SagaStatus(s) for s in d.get("statuses", ()))})


def _row(r: object) -> BulkJob:
    v = list(r)  # type: ignore[call-overload]
    return BulkJob(
        job_id=v[0],
        request_id=v[1],
        action=v[2],
        filter=v[3],
        query=query_from(v[4]),
        state=v[5],
        dry_run=bool(v[6]),
        clear_faults=bool(v[7]),
        reason=v[8],
        created_by=v[9],
        matched=v[10],
        done=v[11],
        skipped=v[12],
        failed=v[13],
        last_error=v[14],
        cursor=(v[15], v[16]) if v[15] is not None else None,
        epoch=v[17],
        created_at=v[18],
        updated_at=v[19],
    )


def insert(conn: Conn, job: BulkJob) -> tuple[BulkJob, bool]:
    """Log a new job, or return the one already logged under its request id."""
    found = conn.execute(
        f"SELECT {_COLS} FROM bulk_jobs WHERE request_id=?", (job.request_id,)
    ).fetchone()
    if found is not None:
        return _row(found), False
    conn.execute(
        f"INSERT INTO bulk_jobs ({_COLS}) VALUES ({','.join('?' * 20)})",
        (
            job.job_id, job.request_id, job.action, job.filter, query_json(job.query),
            job.state, int(job.dry_run), int(job.clear_faults), job.reason, job.created_by,
            job.matched, 0, 0, 0, "", None, None, 0, job.created_at, job.updated_at,
        ),
    )  # fmt: skip
    return job, True


def matching(conn: Conn, q: SagaQuery) -> int:
    """How many sagas a job's query matches, exactly (a list's count stops at a cap; a job's
    progress needs the whole figure, read once per job)."""
    if q.by_status_only:
        return count(conn, q)[0]
    body, _, args = where(q)
    return int(conn.execute(f"SELECT COUNT(*) {body}", args).fetchone()[0])


def get(conn: Conn, job_id: str) -> BulkJob | None:
    r = conn.execute(f"SELECT {_COLS} FROM bulk_jobs WHERE job_id=?", (job_id,)).fetchone()
    return None if r is None else _row(r)


def recent(conn: Conn, limit: int) -> list[BulkJob]:
    rows = conn.execute(
        f"SELECT {_COLS} FROM bulk_jobs ORDER BY created_at DESC, job_id DESC LIMIT ?", (limit,)
    ).fetchall()
    return [_row(r) for r in rows]


def claimable(conn: Conn, owner: str, at: float) -> list[str]:
    """Live jobs nobody drives: never claimed, their lease lapsed, or held by `owner` itself
    before it restarted (the caller leaves out those it drives)."""
    rows = conn.execute(
        "SELECT job_id FROM bulk_jobs WHERE state IN (?, ?)"
        " AND (owner IS NULL OR owner = ? OR expires < ?)",
        (*LIVE, owner, at),
    ).fetchall()
    return [r[0] for r in rows]


def claim(conn: Conn, job_id: str, owner: str, expires: float, at: float) -> BulkJob | None:
    """Take the job's lease (bumping its epoch) if it is still claimable."""
    cur = conn.execute(
        "UPDATE bulk_jobs SET owner=?, expires=?, epoch=epoch+1 WHERE job_id=?"
        " AND state IN (?, ?) AND (owner IS NULL OR owner = ? OR expires < ?)",
        (owner, expires, job_id, *LIVE, owner, at),
    )
    return get(conn, job_id) if cur.rowcount == 1 else None


def _fenced(conn: Conn, job: BulkJob, sets: str, args: tuple[object, ...]) -> None:
    cur = conn.execute(
        f"UPDATE bulk_jobs SET {sets}, updated_at=? WHERE job_id=? AND epoch=?",
        (*args, now(), job.job_id, job.epoch),
    )
    if cur.rowcount != 1:
        raise LeaseLost(f"bulk job {job.job_id}: claimed by another replica")


def pending(conn: Conn, job_id: str) -> list[str]:
    """The sagas a batch took in hand and has no outcome for yet (a kill came between)."""
    rows = conn.execute(
        "SELECT saga_id FROM bulk_job_sagas WHERE job_id=? AND outcome=''", (job_id,)
    ).fetchall()
    return [r[0] for r in rows]


def take_batch(conn: Conn, job: BulkJob, batch: list[Key], expires: float) -> BulkJob:
    """The next batch taken in hand and the cursor moved past it, in one transaction; no
    batch left: the job is DONE; a stop asked for: STOPPED."""
    state = conn.execute("SELECT state FROM bulk_jobs WHERE job_id=?", (job.job_id,)).fetchone()
    if state is not None and state[0] == STOPPING:
        _fenced(conn, job, "state=?", (STOPPED,))
        return replace(job, state=STOPPED)
    if not batch:
        _fenced(conn, job, "state=?", (DONE,))
        return replace(job, state=DONE)
    last = batch[-1]
    _fenced(conn, job, "cursor_at=?, cursor_id=?, expires=?", (last[0], last[1], expires))
    conn.executemany(
        "INSERT INTO bulk_job_sagas (job_id, saga_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
        [(job.job_id, k[1]) for k in batch],
    )
    return replace(job, cursor=last)


def record(
    conn: Conn, job: BulkJob, outcomes: dict[str, tuple[str, str]], expires: float
) -> BulkJob:
    """Each saga's outcome (and the last refusal) and the job's counts, in one transaction."""
    got = {o: sum(1 for v, _ in outcomes.values() if v == o) for o in (ACTED, SKIPPED, REFUSED)}
    error = next((e for v, e in reversed(list(outcomes.values())) if e), job.last_error)
    _fenced(
        conn,
        job,
        "done=done+?, skipped=skipped+?, failed=failed+?, last_error=?, expires=?",
        (got[ACTED], got[SKIPPED], got[REFUSED], error, expires),
    )
    conn.executemany(
        "UPDATE bulk_job_sagas SET outcome=? WHERE job_id=? AND saga_id=?",
        [(v, job.job_id, saga_id) for saga_id, (v, _) in outcomes.items()],
    )
    found = get(conn, job.job_id)
    return found if found is not None else job


def stop(conn: Conn, job_id: str) -> BulkJob | None:
    """Ask a running job to stop (its driver stops before its next batch)."""
    conn.execute(
        "UPDATE bulk_jobs SET state=?, updated_at=? WHERE job_id=? AND state=?",
        (STOPPING, now(), job_id, RUNNING),
    )
    return get(conn, job_id)


def renew(conn: Conn, job: BulkJob, expires: float) -> None:
    _fenced(conn, job, "expires=?", (expires,))


def fail(conn: Conn, job: BulkJob, error: str) -> None:
    _fenced(conn, job, "state=?, last_error=?", (FAILED, error))


def prune_jobs(conn: Conn, ended_before: str, limit: int) -> int:
    """Retention: up to `limit` jobs that ended before `ended_before` (their last write), with
    the sagas they took in hand; in the caller's transaction (SagaStore.prune)."""
    marks = ",".join("?" * len(ENDED))
    ids = [
        r[0]
        for r in conn.execute(
            f"SELECT job_id FROM bulk_jobs WHERE state IN ({marks}) AND updated_at < ?"
            " ORDER BY updated_at LIMIT ?",
            (*ENDED, ended_before, limit),
        )
    ]
    if ids:
        jobs = ",".join("?" * len(ids))
        conn.execute(f"DELETE FROM bulk_job_sagas WHERE job_id IN ({jobs})", ids)
        conn.execute(f"DELETE FROM bulk_jobs WHERE job_id IN ({jobs})", ids)
    return len(ids)


def _among(conn: Conn, saga_ids: list[str], sql: str, args: tuple[object, ...]) -> set[str]:
    """The saga ids `sql` (a SELECT of saga_id ... WHERE saga_id IN ({ids}) ...) finds."""
    if not saga_ids:
        return set()
    ids = ",".join("?" * len(saga_ids))
    return {r[0] for r in conn.execute(sql.format(ids=ids), (*saga_ids, *args)).fetchall()}


def marked(conn: Conn, saga_ids: list[str], event_type: str, message: str) -> set[str]:
    """Those of the sagas whose events already show this job's act (its event and message)."""
    sql = (
        "SELECT DISTINCT saga_id FROM saga_events WHERE saga_id IN ({ids}) AND type=? AND message=?"
    )
    return _among(conn, saga_ids, sql, (event_type, message))


def cancelled_by(conn: Conn, saga_ids: list[str], by: str) -> set[str]:
    """Those of the sagas whose row holds a cancel by `by`."""
    sql = "SELECT saga_id FROM sagas WHERE saga_id IN ({ids}) AND cancelled_by=?"
    return _among(conn, saga_ids, sql, (by,))
