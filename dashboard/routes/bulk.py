"""Bulk resume and cancel of the sagas a filter matches: the page /sagas/bulk and its API.

The filter comes as on /sagas (`status` repeatable, `customer`, `flight`, `step`, `reason`,
`since`, `until`, `saga`); the orchestrator runs the job (StartBulkJob) and the page polls it.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from dashboard.errors import ERRORS
from dashboard.jsonview import to_dict
from dashboard.state import Ctx
from dashboard.validation import FieldError
from flightsaga.v1 import orchestrator_pb2 as pb
from sagakit.saga_finder import FilterError, FilterWords, saga_filter
from sagakit.timespec import TimeSpecError

log = logging.getLogger("dashboard")

router = APIRouter()
_ACTIONS = {"resume": pb.BULK_RESUME, "cancel": pb.BULK_CANCEL}


class BulkFilterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: list[str] = Field(default_factory=list, max_length=5)
    customer: str = Field(default="", max_length=64)
    flight: str = Field(default="", max_length=64)
    step: str = Field(default="", max_length=64)
    reason: str = Field(default="", max_length=64)
    since: str = Field(default="", max_length=40)
    until: str = Field(default="", max_length=40)
    saga: str = Field(default="", max_length=64)


class BulkJobIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["resume", "cancel"]
    filter: BulkFilterIn = BulkFilterIn()
    dry_run: bool = False
    clear_faults: bool = Field(default=False, description="resume: drop injected faults")
    reason: str = Field(default="", max_length=500, description="cancel: why")
    request_id: str = Field(default="", max_length=128, description="idempotency key")


@router.post("/api/bulk-jobs", tags=["bulk"], responses=ERRORS)
async def start(d: Ctx, body: BulkJobIn) -> dict[str, Any]:
    """Start a bulk job over the sagas the filter matches (or, `dry_run`, only count them)."""
    try:
        found = saga_filter(FilterWords(**body.filter.model_dump()), label=lambda p: f"filter.{p}")
    except (FilterError, TimeSpecError) as exc:
        raise FieldError(exc.field, exc.problem) from None
    req = pb.StartBulkJobRequest(
        action=_ACTIONS[body.action],
        filter=found,
        dry_run=body.dry_run,
        clear_faults=body.clear_faults,
        reason=body.reason,
        request_id=body.request_id or uuid.uuid4().hex,
    )
    if not body.dry_run:
        log.warning("[SAGA] operator bulk %s of %s", body.action, body.filter.model_dump())
    p = d.peers
    return to_dict(await p.call(d.config.orchestrator, p.orchestrator.StartBulkJob, req))


@router.get("/api/bulk-jobs/{job_id}", tags=["bulk"], responses=ERRORS)
async def get(d: Ctx, job_id: str) -> dict[str, Any]:
    """A bulk job's progress."""
    p = d.peers
    req = pb.GetBulkJobRequest(job_id=job_id)
    return to_dict(await p.call(d.config.orchestrator, p.orchestrator.GetBulkJob, req))


@router.post("/api/bulk-jobs/{job_id}/stop", tags=["bulk"], responses=ERRORS)
async def stop(d: Ctx, job_id: str) -> dict[str, Any]:
    """Ask a running bulk job to stop after the batch in hand."""
    p = d.peers
    req = pb.StopBulkJobRequest(job_id=job_id)
    return to_dict(await p.call(d.config.orchestrator, p.orchestrator.StopBulkJob, req))
