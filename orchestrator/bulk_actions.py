"""What a bulk job does to each saga it matched: one small function per action.

Resume acts on FAILED sagas as ResumeSaga does (its SAGA_RESUMED event carries the job's mark);
others are skipped (a live saga is being driven already). Cancel needs the engine's cancel
entry point, which this build lacks: it is not offered (the API answers UNIMPLEMENTED).
"""

from __future__ import annotations

from orchestrator.engine.bulk_jobs import BulkAction, Outcome, mark
from orchestrator.engine.bulk_sql import ACTED, REFUSED, SKIPPED, BulkJob
from orchestrator.engine.errors import NotResumable, SagaNotFound
from orchestrator.engine.model import SagaEventType, SagaStatus
from orchestrator.engine.runner import SagaRunner

RESUME, CANCEL = "RESUME", "CANCEL"


def actions(runner: SagaRunner) -> dict[str, BulkAction]:
    async def resume(job: BulkJob, saga_id: str) -> Outcome:
        saga = await runner.store.load(saga_id)
        if saga is None or saga.status != SagaStatus.FAILED:
            return SKIPPED, ""
        try:
            await runner.resume(saga_id, job.clear_faults, note=mark(job.job_id))
        except SagaNotFound:
            return SKIPPED, ""
        except NotResumable as exc:
            return REFUSED, str(exc)
        return ACTED, ""

    return {RESUME: BulkAction(SagaEventType.SAGA_RESUMED.value, resume)}
