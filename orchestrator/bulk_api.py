"""The bulk-job RPCs (StartBulkJob, GetBulkJob, StopBulkJob, ListBulkJobs): checks and
translation between the API and the engine's bulk jobs (orchestrator.engine.bulk_jobs)."""

from __future__ import annotations

import uuid
from dataclasses import replace

import grpc
from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp

from flightsaga.v1 import orchestrator_pb2 as pb
from orchestrator import saga_filter
from orchestrator.bulk_actions import CANCEL, RESUME
from orchestrator.doors import Doors
from orchestrator.engine import bulk_sql
from orchestrator.engine.bulk_jobs import BulkJobs
from orchestrator.engine.bulk_sql import BulkJob
from orchestrator.engine.model import now
from sagakit import auth, validate
from sagakit.db import Conn
from sagakit.errors import AlreadyExists, InvalidArgument, NotFound, Reason

_ACTIONS = {pb.BULK_RESUME: RESUME, pb.BULK_CANCEL: CANCEL}
MAX_JOBS_PAGE = 200


def _stamp(iso: str) -> Timestamp:
    ts = Timestamp()
    ts.FromJsonString(iso.replace("+00:00", "Z"))
    return ts


def job_to_proto(job: BulkJob) -> pb.BulkJob:
    action = next(k for k, v in _ACTIONS.items() if v == job.action)
    return pb.BulkJob(
        job_id=job.job_id,
        action=action,
        filter=json_format.Parse(job.filter, pb.SagaFilter()),
        state=pb.BulkJobState.Value(f"BULK_{job.state}"),
        matched=job.matched,
        done=job.done,
        skipped=job.skipped,
        failed=job.failed,
        last_error=job.last_error,
        created_by=job.created_by,
        reason=job.reason,
        clear_faults=job.clear_faults,
        dry_run=job.dry_run,
        created_at=_stamp(job.created_at),
        updated_at=_stamp(job.updated_at),
        request_id=job.request_id,
    )


class BulkJobsApi:
    """Mixed into the Orchestrator servicer (which sets `doors` and `bulk`)."""

    doors: Doors
    bulk: BulkJobs

    def _new_job(self, request: pb.StartBulkJobRequest) -> BulkJob:
        if request.action not in _ACTIONS:
            raise InvalidArgument("action", "is required: BULK_RESUME or BULK_CANCEL")
        request_id = validate.text("request_id", request.request_id, 128, True)
        reason = validate.text("reason", request.reason, 500, False)
        if request.action == pb.BULK_CANCEL and not request.dry_run and not reason:
            raise InvalidArgument("reason", "is required to cancel (kept with each saga)")
        started = now()
        f = pb.SagaFilter()
        f.CopyFrom(request.filter)
        query = saga_filter.query_of(f, self.doors, None)
        if not query.created_before:  # sagas created after the start are not swept in
            f.created_before.FromJsonString(started.replace("+00:00", "Z"))
            query = replace(query, created_before=started)
        who = auth.caller.get()
        return BulkJob(
            job_id=uuid.uuid4().hex,
            request_id=request_id,
            action=_ACTIONS[request.action],
            filter=json_format.MessageToJson(f, indent=None),
            query=query,
            state=bulk_sql.PLANNED if request.dry_run else bulk_sql.RUNNING,
            dry_run=request.dry_run,
            clear_faults=request.clear_faults,
            reason=reason,
            created_by=who.name if who is not None else "",
            created_at=started,
            updated_at=started,
        )

    async def StartBulkJob(
        self, request: pb.StartBulkJobRequest, context_: grpc.aio.ServicerContext
    ) -> pb.BulkJob:
        job = self._new_job(request)
        db = self.bulk.store.db

        def tx(conn: Conn) -> tuple[BulkJob, bool]:
            return bulk_sql.insert(conn, replace(job, matched=bulk_sql.matching(conn, job.query)))

        stored, created = await db.transaction(tx)
        if not created and (stored.action, stored.dry_run) != (job.action, job.dry_run):
            raise AlreadyExists(
                f"request_id: {job.request_id!r} started another job ({stored.job_id}); "
                "use a new request_id for a new job",
                Reason.IDEMPOTENCY_KEY_REUSED,
                field="request_id",
            )
        if created and not job.dry_run:
            self.bulk.wake()
        return job_to_proto(stored)

    async def _job(self, job_id: str) -> BulkJob:
        job_id = validate.text("job_id", job_id, 64, True)
        job = await self.bulk.store.db.read(lambda c: bulk_sql.get(c, job_id))
        if job is None:
            raise NotFound(f"job_id: no bulk job {job_id!r}", field="job_id")
        return job

    async def GetBulkJob(
        self, request: pb.GetBulkJobRequest, context_: grpc.aio.ServicerContext
    ) -> pb.BulkJob:
        return job_to_proto(await self._job(request.job_id))

    async def StopBulkJob(
        self, request: pb.StopBulkJobRequest, context_: grpc.aio.ServicerContext
    ) -> pb.BulkJob:
        job = await self._job(request.job_id)
        stopped = await self.bulk.store.db.transaction(lambda c: bulk_sql.stop(c, job.job_id))
        return job_to_proto(stopped or job)

    async def ListBulkJobs(
        self, request: pb.ListBulkJobsRequest, context_: grpc.aio.ServicerContext
    ) -> pb.ListBulkJobsResponse:
        size = request.page_size or 20
        if size > MAX_JOBS_PAGE:
            raise InvalidArgument("page_size", f"at most {MAX_JOBS_PAGE} (got {size})")
        jobs = await self.bulk.store.db.read(lambda c: bulk_sql.recent(c, size))
        return pb.ListBulkJobsResponse(jobs=[job_to_proto(j) for j in jobs])
