"""The dashboard's requests, checked and translated into gRPC requests. No I/O here.

A booking body (models.BookingIn) becomes the BookFlight request and the call's metadata
(x-fail-at, x-fault, ...), checked by the orchestrator's own rules (sagas.booking.rules)
before anything is sent; a search becomes a SearchFlights request. Every problem is a
FieldError naming the field.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

from dashboard.models import BookingIn, FaultIn, SagaIn
from flightsaga.v1 import common_pb2, orchestrator_pb2, seat_pb2
from sagakit import context, validate
from sagakit.card_fields import normalize_number
from sagakit.errors import InvalidArgument
from sagakit.participant_faults import parse_duration_ms
from sagas.booking import STEP_ORDER, canonical_step
from sagas.booking import rules as booking_rules

MAX_COUNT = 100
_IATA = re.compile(r"^[A-Za-z]{3}$")
_KEY = re.compile(r"^[A-Za-z0-9._:-]+$")
SAGA_STATUSES = tuple(
    v.name for v in orchestrator_pb2.SagaStatus.DESCRIPTOR.values if v.number != 0
)
CABIN_CLASSES = tuple(v.name for v in common_pb2.CabinClass.DESCRIPTOR.values if v.number != 0)


class FieldError(ValueError):
    """A request field is wrong; `field` is its dotted path, e.g. `card.number`."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


@dataclass(frozen=True)
class BookingPlan:
    """What POST /api/bookings sends: the request and the metadata of the BookFlight call."""

    request: orchestrator_pb2.BookFlightRequest
    correlation_id: str
    idempotency_key: str
    fail_at: tuple[str, ...]
    faults: tuple[str, ...]

    def metadata(self) -> tuple[tuple[str, str], ...]:
        md = [
            (context.CORRELATION_HEADER, self.correlation_id),
            ("x-idempotency-key", self.idempotency_key),
        ]
        if self.fail_at:
            md.append(("x-fail-at", ",".join(self.fail_at)))
        if self.faults:
            md.append(("x-fault", ",".join(self.faults)))
        return tuple(md)


@dataclass(frozen=True)
class SagaPlan:
    """What POST /api/sagas/start sends: the StartSaga request and its call's metadata."""

    request: orchestrator_pb2.StartSagaRequest
    correlation_id: str
    fail_at: tuple[str, ...]
    faults: tuple[str, ...]

    def metadata(self) -> tuple[tuple[str, str], ...]:
        md = [(context.CORRELATION_HEADER, self.correlation_id)]
        if self.fail_at:
            md.append(("x-fail-at", ",".join(self.fail_at)))
        if self.faults:
            md.append(("x-fault", ",".join(self.faults)))
        return tuple(md)


def step_name(raw: str, field: str) -> str:
    try:
        return canonical_step(raw, field)
    except InvalidArgument as exc:
        raise FieldError(field, exc.problem) from None


def _count(raw: str | int | None, field: str, default: int = 1) -> int:
    if raw is None or raw == "":
        return default
    text = str(raw).strip()
    if not text.isdigit() or not 1 <= int(text) <= MAX_COUNT:
        raise FieldError(field, f"must be a count 1..{MAX_COUNT} (got {text[:20]!r})")
    return int(text)


def fault_token(fault: FaultIn | str, field: str) -> str:
    """One fault -> its normalised `step:kind[=arg]` token for x-fault."""
    if isinstance(fault, str):
        head, sep, rest = fault.strip().partition(":")
        if not sep:
            raise FieldError(field, f"{fault[:40]!r} must look like step:kind[=arg]")
        kind, _, raw_arg = rest.strip().partition("=")
        try:
            fault = FaultIn.model_validate(
                {"step": head, "kind": kind.strip(), "arg": raw_arg or None}
            )
        except ValueError:
            kinds = "fail, transient, lost-reply, delay, compensate-fail"
            raise FieldError(
                field, f"unknown fault kind {kind.strip()!r} (known: {kinds})"
            ) from None
    step = step_name(fault.step, f"{field}.step")
    kind, arg = fault.kind, fault.arg
    if kind == "fail":
        if arg not in (None, ""):
            raise FieldError(f"{field}.arg", "fail takes no argument")
        return f"{step}:fail"
    if kind in ("transient", "lost-reply"):
        return f"{step}:{kind}={_count(arg, f'{field}.arg')}"
    if kind == "compensate-fail":
        if isinstance(arg, str) and arg.strip().lower() == "always":
            return f"{step}:compensate-fail=always"
        return f"{step}:compensate-fail={_count(arg, f'{field}.arg')}"
    # delay
    if arg is None or arg == "":
        return f"{step}:delay"
    try:
        ms = parse_duration_ms(f"{field}.arg", str(arg))
    except InvalidArgument as exc:
        raise FieldError(f"{field}.arg", exc.problem) from None
    return f"{step}:delay={ms}"


def _iso_date(value: str, field: str) -> str:
    try:
        return validate.iso_date(field, value)
    except InvalidArgument as exc:
        raise FieldError(exc.field, exc.problem) from None


def booking_plan(
    body: BookingIn, correlation_id: str = "", today: date | None = None
) -> BookingPlan:
    """Validate a booking body and build the BookFlight request and its metadata.

    Every problem raises FieldError naming the field, before anything is sent: a bad request
    creates no saga.
    """
    request = orchestrator_pb2.BookFlightRequest(
        customer_id=body.customer_id.strip(),
        flight_ids=[f.strip() for f in body.flight_ids],
        passengers=[
            common_pb2.Passenger(
                first_name=p.first_name.strip(),
                last_name=p.last_name.strip(),
                date_of_birth=p.date_of_birth.strip(),
            )
            for p in body.passengers
        ],
        cabin_class=common_pb2.CabinClass.Value(body.cabin_class),
        loyalty_points=body.loyalty_points,
        card=common_pb2.Card(
            number=normalize_number(body.card.number),
            exp_month=body.card.exp_month,
            exp_year=body.card.exp_year,
            cvc=body.card.cvc,
            holder_name=body.card.holder_name.strip(),
        ),
        seat_selections=[
            common_pb2.SeatSelection(
                flight_id=s.flight_id.strip(),
                passenger_index=s.passenger_index,
                seat=s.seat.upper(),
            )
            for s in body.seat_selections
        ],
    )
    # The orchestrator's own rules (one source): the same answer, naming the same field.
    try:
        booking_rules.check(request, today or datetime.now(UTC).date())
    except InvalidArgument as exc:
        raise FieldError(exc.field, exc.problem) from None
    fail_at: list[str] = []
    for i, raw in enumerate(body.fail_at):
        step = step_name(raw, f"fail_at[{i}]")
        if step not in fail_at:
            fail_at.append(step)
    fail_at.sort(key=STEP_ORDER.index)
    faults = [fault_token(f, f"faults[{i}]") for i, f in enumerate(body.faults)]
    key, cid = _ids(body.idempotency_key, body.correlation_id, correlation_id)
    return BookingPlan(request, cid, key, tuple(fail_at), tuple(faults))


def _ids(idempotency_key: str, correlation_id: str, fallback_cid: str) -> tuple[str, str]:
    key = idempotency_key.strip() or uuid.uuid4().hex
    if not _KEY.match(key):
        raise FieldError("idempotency_key", "may hold only letters, digits and . _ : -")
    cid = correlation_id.strip() or fallback_cid.strip() or context.new_correlation_id()
    if not _KEY.match(cid) or len(cid) > 64:
        raise FieldError("correlation_id", "may hold only letters, digits and . _ : - (<= 64)")
    return key, cid


def any_fault_token(fault: FaultIn | str, field: str) -> str:
    """One fault of any saga -> `step:kind[=arg]`. Its step names are the saga's own, which the
    orchestrator checks (it names the saga's steps in its answer); only the shape is here."""
    if isinstance(fault, str):
        token = fault.strip()
        if ":" not in token:
            raise FieldError(field, f"{fault[:40]!r} must look like step:kind[=arg]")
        return token
    arg = "" if fault.arg is None or fault.arg == "" else f"={fault.arg}"
    return f"{fault.step.strip()}:{fault.kind}{arg}"


def saga_plan(body: SagaIn, correlation_id: str = "") -> SagaPlan:
    """A saga of any kind to start: the StartSaga request and its metadata. The input and the
    step names are the orchestrator's to check (each error names its field); the ids are
    checked here."""
    key, cid = _ids(body.idempotency_key, body.correlation_id, correlation_id)
    request = orchestrator_pb2.StartSagaRequest(
        saga=body.saga.strip(), version=body.version, request_id=key
    )
    request.input.SetInParent()  # `{}` is an input too: the saga's own rules say what it lacks
    request.input.update(body.input)
    fail_at = tuple(dict.fromkeys(s.strip() for s in body.fail_at if s.strip()))
    faults = tuple(any_fault_token(f, f"faults[{i}]") for i, f in enumerate(body.faults))
    return SagaPlan(request, cid, fail_at, faults)


def status_filter(raw: str | None) -> int:
    """`?status=failed` -> the SagaStatus number (0 = no filter)."""
    if raw is None or not raw.strip() or raw.strip().upper() == "ALL":
        return 0
    name = raw.strip().upper()
    if name not in SAGA_STATUSES:
        raise FieldError("status", f"must be one of {', '.join(SAGA_STATUSES)} (got {raw[:30]!r})")
    return int(orchestrator_pb2.SagaStatus.Value(name))


def search_request(
    origin: str,
    destination: str,
    date_: str,
    return_date: str = "",
    cabin_class: str = "",
    passengers: int = 1,
) -> seat_pb2.SearchFlightsRequest:
    if not _IATA.match(origin.strip()):
        raise FieldError("origin", f"must be a 3-letter airport code (got {origin[:10]!r})")
    if not _IATA.match(destination.strip()):
        raise FieldError(
            "destination", f"must be a 3-letter airport code (got {destination[:10]!r})"
        )
    if origin.strip().upper() == destination.strip().upper():
        raise FieldError("destination", "must differ from origin")
    outbound = _iso_date(date_, "date")
    back = _iso_date(return_date, "return_date") if return_date.strip() else ""
    if back and back < outbound:
        raise FieldError("return_date", "must not be before date")
    cabin = cabin_class.strip().upper().replace("-", "_") or "ECONOMY"
    if cabin not in CABIN_CLASSES:
        raise FieldError("cabin_class", f"must be one of {', '.join(CABIN_CLASSES)}")
    if not 1 <= passengers <= 9:
        raise FieldError("passengers", "must be 1..9")
    return seat_pb2.SearchFlightsRequest(
        origin=origin.strip().upper(),
        destination=destination.strip().upper(),
        date=outbound,
        return_date=back,
        cabin_class=common_pb2.CabinClass.Value(cabin),
        passengers=passengers,
    )
