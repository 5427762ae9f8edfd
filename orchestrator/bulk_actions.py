"""What a bulk job does to each saga it matched: one small function per action, and how a
restart recognises a saga it already acted on (the act's own trace in the saga log).

Resume acts on FAILED sagas as ResumeSaga does; its SAGA_RESUMED event carries the job's mark.
Cancel acts on RUNNING sagas as CancelSaga does, by "<who> (bulk job <id>)", which the saga
keeps as `cancelled_by`. A saga in another state is skipped. A resume has the saga driven here,
so it waits for a place among the sagas in flight; a cancel adds none.
"""

from __future__ import annotations

from orchestrator.engine import bulk_sql
from orchestrator.engine.bulk_jobs import BulkAction, Outcome, mark
from orchestrator.engine.bulk_sql import ACTED, REFUSED, SKIPPED, BulkJob
from orchestrator.engine.errors import NotCancellable, NotResumable, SagaNotFound
from orchestrator.engine.model import SagaEventType, SagaStatus
from orchestrator.engine.runner import SagaRunner
from sagakit.db import Conn

RESUME, CANCEL = "RESUME", "CANCEL"
ANONYMOUS = "anonymous"  # who started a job when auth is off


def canceller(job: BulkJob) -> str:
    return f"{job.created_by or ANONYMOUS} ({mark(job.job_id)})"


def _resumed(conn: Conn, saga_ids: list[str], job: BulkJob) -> set[str]:
    return bulk_sql.marked(conn, saga_ids, SagaEventType.SAGA_RESUMED.value, mark(job.job_id))


def _cancelled(conn: Conn, saga_ids: list[str], job: BulkJob) -> set[str]:
    return bulk_sql.cancelled_by(conn, saga_ids, canceller(job))


def actions(runner: SagaRunner) -> dict[str, BulkAction]:
    async def in_state(saga_id: str, status: SagaStatus) -> bool:
        saga = await runner.store.load(saga_id)
        return saga is not None and saga.status == status

    async def resume(job: BulkJob, saga_id: str) -> Outcome:
        if not await in_state(saga_id, SagaStatus.FAILED):
            return SKIPPED, ""
        try:
            await runner.resume(saga_id, job.clear_faults, note=mark(job.job_id))
        except SagaNotFound:
            return SKIPPED, ""
        except NotResumable as exc:
            return REFUSED, str(exc)
        return ACTED, ""

    async def cancel(job: BulkJob, saga_id: str) -> Outcome:
        if not await in_state(saga_id, SagaStatus.RUNNING):
            return SKIPPED, ""
        try:
            await runner.cancel(saga_id, reason=job.reason, by=canceller(job))
        except (SagaNotFound, NotCancellable):  # ended meanwhile
            return SKIPPED, ""
        return ACTED, ""

    return {
        RESUME: BulkAction(_resumed, resume, drives=True),
        CANCEL: BulkAction(_cancelled, cancel),
    }
