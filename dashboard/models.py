"""The JSON request bodies of the dashboard API (they also describe it in /openapi.json).

Shapes and types are checked here by pydantic; the rules that need more than one field or the
saga's vocabulary (Luhn, expiry, step names, fault grammar) are checked in `validation`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

CabinClassName = Literal["ECONOMY", "PREMIUM_ECONOMY", "BUSINESS", "FIRST"]
FaultKind = Literal["fail", "transient", "lost-reply", "delay", "compensate-fail"]


class _Strict(BaseModel):
    # An unknown field is an error, so a typo ("custmer_id") is not silently dropped.
    model_config = ConfigDict(extra="forbid")


def _upper(value: object) -> object:
    return (
        value.strip().upper().replace("-", "_").replace(" ", "_")
        if isinstance(value, str)
        else value
    )


class PassengerIn(_Strict):
    first_name: str = Field(min_length=1, max_length=64, examples=["Ada"])
    last_name: str = Field(min_length=1, max_length=64, examples=["Lovelace"])
    date_of_birth: str = Field("", description="optional, YYYY-MM-DD", examples=["1990-12-10"])


class CardIn(_Strict):
    number: str = Field(description="12..19 digits, spaces allowed", examples=["4242424242424242"])
    exp_month: int = Field(ge=1, le=12, examples=[12])
    exp_year: int = Field(ge=2000, le=2100, examples=[2030])
    cvc: str = Field(pattern=r"^\d{3,4}$", examples=["123"])
    holder_name: str = Field(min_length=1, max_length=64, examples=["Ada Lovelace"])


class SeatSelectionIn(_Strict):
    flight_id: str = Field(min_length=1, max_length=64)
    passenger_index: int = Field(ge=0, le=8)
    seat: str = Field(pattern=r"^\d{1,3}[A-Ka-k]$", examples=["12C"])


class FaultIn(_Strict):
    """One `x-fault` entry: `step:kind[=arg]` (see orchestrator.proto)."""

    step: str = Field(description="step name or alias", examples=["process_payment", "payment"])
    kind: FaultKind
    arg: str | int | None = Field(
        None,
        description="transient / lost-reply / compensate-fail: a count (compensate-fail also "
        "'always'); delay: milliseconds (or e.g. '1.5s'); fail: none",
        examples=[2, "always", 1500],
    )


class _StartIn(_Strict):
    """What every start takes besides its input: the idempotency key and correlation id."""

    idempotency_key: str = Field(
        "",
        max_length=128,
        description="optional; the same key returns the same saga (generated when empty)",
    )
    correlation_id: str = Field(
        "", max_length=64, description="optional; generated when empty (or X-Correlation-ID)"
    )


class BookingIn(_StartIn):
    """A flight booking to run as a saga, plus the faults to inject into it."""

    customer_id: str = Field(min_length=1, max_length=64, examples=["LOY-1001"])
    flight_ids: list[str] = Field(min_length=1, max_length=4, description="legs in travel order")
    passengers: list[PassengerIn] = Field(min_length=1, max_length=9)
    cabin_class: CabinClassName = "ECONOMY"
    loyalty_points: int = Field(0, ge=0, le=1_000_000_000)
    card: CardIn
    seat_selections: list[SeatSelectionIn] = Field(default_factory=list)
    fail_at: list[str] = Field(
        default_factory=list,
        description="steps (or aliases) to fail; the first in saga order fails -> x-fail-at",
        examples=[["process_payment"]],
    )
    faults: list[FaultIn | str] = Field(
        default_factory=list,
        description="richer faults -> x-fault; objects or strings `step:kind[=arg]`",
        examples=[[{"step": "payment", "kind": "compensate-fail", "arg": "always"}]],
    )

    _cabin = field_validator("cabin_class", mode="before")(_upper)


class SagaIn(_StartIn):
    """A saga of any served kind (GET /api/saga-types) to start with its input as JSON, plus
    the faults to inject into it. The orchestrator checks the input and the step names."""

    saga: str = Field(min_length=1, max_length=64, description="its name", examples=["trip"])
    version: int = Field(0, ge=0, le=1_000_000, description="0: the latest served version")
    input: dict[str, Any] = Field(
        description="the saga's input message as JSON (its input_fields)",
        examples=[{"guest": "Ann Lee", "city": "LIS", "check_in": "2030-06-10", "nights": 3}],
    )
    fail_at: list[str] = Field(
        default_factory=list,
        max_length=16,
        description="steps (or aliases) to fail; the first in saga order fails -> x-fail-at",
        examples=[["rent_car"]],
    )
    faults: list[FaultIn | str] = Field(
        default_factory=list,
        max_length=16,
        description="richer faults -> x-fault; objects or strings `step:kind[=arg]`",
        examples=[["book_room:compensate-fail=always"]],
    )


class ResumeIn(_Strict):
    clear_faults: bool = Field(False, description="drop the injected fault plan before resuming")


class CancelIn(_Strict):
    reason: str = Field(
        min_length=1,
        max_length=500,
        description="why the saga is cancelled: kept with the saga, in its events and the log",
        examples=["the customer called to cancel"],
    )


class BookingStarted(BaseModel):
    """The answer to POST /api/bookings: the saga exists and goes on in the orchestrator."""

    saga_id: str
    correlation_id: str
    idempotency_key: str
    status: str
    replayed: bool = False
    links: dict[str, str]


class SagaStarted(BookingStarted):
    """The answer to POST /api/sagas/start: which saga (name, version) runs under that id."""

    saga: str
    saga_version: int


class ApiErrorOut(BaseModel):
    error: str
    field: str | None = None
    code: str | None = None


class SessionIn(BaseModel):
    """POST /api/session: the user's FlightSaga token."""

    model_config = ConfigDict(extra="forbid")
    token: str = Field(min_length=1, max_length=512)
