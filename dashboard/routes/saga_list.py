"""The saga list (GET /api/sagas), found by what the sagas are about: the same parameters as
the `/sagas` page's query string and `flightsaga list`'s options."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from dashboard.errors import ERRORS
from dashboard.jsonview import to_dict
from dashboard.peers import ApiError
from dashboard.state import Ctx
from dashboard.validation import FieldError
from flightsaga.v1 import orchestrator_pb2
from sagakit.saga_finder import (
    FilterError,
    FilterWords,
    fixed_times,
    parameter_of,
    saga_filter,
)
from sagakit.timespec import HELP as TIME_HELP
from sagakit.timespec import TimeSpecError

router = APIRouter()


@router.get("/api/sagas", tags=["sagas"], responses=ERRORS)
async def list_sagas(
    d: Ctx,
    status: Annotated[
        list[str] | None, Query(description="RUNNING, FAILED, ... (repeat: any of them) or ALL")
    ] = None,
    customer: Annotated[str, Query(max_length=200, description="the customer id")] = "",
    flight: Annotated[str, Query(max_length=200, description="a flight of the booking")] = "",
    step: Annotated[str, Query(max_length=200, description="step of its latest failure")] = "",
    reason: Annotated[str, Query(max_length=200, description="that failure's reason")] = "",
    since: Annotated[str, Query(max_length=40, description=f"created at/after: {TIME_HELP}")] = "",
    until: Annotated[str, Query(max_length=40, description="created before (as since)")] = "",
    saga: Annotated[str, Query(max_length=200, description="a served saga's name")] = "",
    page_size: Annotated[int, Query(ge=1, le=200)] = 20,
    page_token: Annotated[str, Query(max_length=200)] = "",
) -> dict[str, Any]:
    """Sagas of every kind, newest first, paged by `next_page_token` (with the same
    parameters), matching every parameter given. Each says which saga it is (`saga`,
    `saga_version`), and where and why it last failed (`failed_step`, `error_reason`). A bad
    parameter is 400 naming it. `fixed` has the `since` and `until` it used as ISO moments:
    ask for the next pages with those (a page token is bound to its filter, and `1h` moves)."""
    words = FilterWords(status or (), customer, flight, step, reason, since, until, saga)
    try:
        where = saga_filter(words)
    except (FilterError, TimeSpecError) as exc:
        raise FieldError(exc.field, exc.problem) from None
    req = orchestrator_pb2.ListSagasRequest(
        page_size=page_size, page_token=page_token, filter=where
    )
    p = d.peers
    try:
        page = await p.call(d.config.orchestrator, p.orchestrator.ListSagas, req)
    except ApiError as exc:
        raise _named(exc) from None
    # The next pages are asked with these moments: a token is bound to its filter, and `1h` moves.
    return {**to_dict(page), "fixed": fixed_times(where)}


def _named(exc: ApiError) -> ApiError:
    """The orchestrator's `filter.step` as the parameter `step` (field and message)."""
    param = parameter_of(exc.field or "")
    if param is not None:
        exc.message = exc.message.replace(exc.field or "", param, 1)
        exc.field = param
    exc.violations = [(parameter_of(f) or f, m) for f, m in exc.violations]
    return exc
