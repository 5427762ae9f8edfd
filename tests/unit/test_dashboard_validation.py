"""Dashboard: JSON request -> BookFlightRequest + metadata, and its validation (pure, no I/O)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from pydantic import ValidationError

from dashboard.models import BookingIn, FaultIn, SagaIn
from dashboard.validation import (
    FieldError,
    booking_plan,
    fault_token,
    saga_plan,
    search_request,
    status_filter,
)
from flightsaga.v1 import common_pb2, orchestrator_pb2

TODAY = date(2026, 11, 26)


def body(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "customer_id": "LOY-1001",
        "flight_ids": ["FS101-20261201"],
        "passengers": [{"first_name": "Ada", "last_name": "Lovelace"}],
        "cabin_class": "economy",
        "loyalty_points": 500,
        "card": {
            "number": "4242 4242 4242 4242",
            "exp_month": 12,
            "exp_year": 2030,
            "cvc": "123",
            "holder_name": "Ada Lovelace",
        },
    }
    base.update(changes)
    return base


def plan(**changes: Any) -> Any:
    return booking_plan(BookingIn.model_validate(body(**changes)), "cid-from-header", TODAY)


def field_of(**changes: Any) -> str:
    with pytest.raises(FieldError) as err:
        plan(**changes)
    return err.value.field


def test_booking_becomes_a_bookflight_request() -> None:
    p = plan()
    req = p.request
    assert isinstance(req, orchestrator_pb2.BookFlightRequest)
    assert req.customer_id == "LOY-1001"
    assert list(req.flight_ids) == ["FS101-20261201"]
    assert req.passengers[0].first_name == "Ada"
    assert req.cabin_class == common_pb2.ECONOMY
    assert req.loyalty_points == 500
    assert req.card.number == "4242424242424242"  # spaces dropped
    assert (req.card.exp_month, req.card.exp_year, req.card.cvc) == (12, 2030, "123")


def test_metadata_carries_ids_and_no_fault_headers_by_default() -> None:
    p = plan()
    md = dict(p.metadata())
    assert md["x-correlation-id"] == "cid-from-header"
    assert len(md["x-idempotency-key"]) == 32
    assert "x-fail-at" not in md and "x-fault" not in md


def test_client_ids_win() -> None:
    md = dict(plan(idempotency_key="my-key-1", correlation_id="cid-body").metadata())
    assert md["x-idempotency-key"] == "my-key-1"
    assert md["x-correlation-id"] == "cid-body"


def test_generated_keys_differ() -> None:
    assert plan().idempotency_key != plan().idempotency_key


def test_fail_at_is_canonical_deduplicated_and_in_saga_order() -> None:
    p = plan(fail_at=["booking", "payment", "process_payment", "SEAT"])
    assert p.fail_at == ("reserve_seat", "process_payment", "confirm_booking")
    assert dict(p.metadata())["x-fail-at"] == "reserve_seat,process_payment,confirm_booking"


@pytest.mark.parametrize(
    ("fault", "token"),
    [
        (
            {"step": "payment", "kind": "compensate-fail", "arg": "always"},
            "process_payment:compensate-fail=always",
        ),
        ({"step": "seat", "kind": "transient", "arg": 2}, "reserve_seat:transient=2"),
        ({"step": "loyalty", "kind": "transient"}, "deduct_loyalty_points:transient=1"),
        ({"step": "booking", "kind": "lost-reply", "arg": "3"}, "confirm_booking:lost-reply=3"),
        ({"step": "payment", "kind": "delay", "arg": "1.5s"}, "process_payment:delay=1500"),
        ({"step": "payment", "kind": "delay"}, "process_payment:delay"),
        ({"step": "payment", "kind": "fail"}, "process_payment:fail"),
        ("payment:compensate-fail=always", "process_payment:compensate-fail=always"),
        ("seat:transient=2", "reserve_seat:transient=2"),
        ("confirm_booking:delay=250", "confirm_booking:delay=250"),
    ],
)
def test_fault_tokens(fault: Any, token: str) -> None:
    parsed = fault if isinstance(fault, str) else FaultIn.model_validate(fault)
    assert fault_token(parsed, "faults[0]") == token


def test_faults_become_x_fault() -> None:
    p = plan(faults=["payment:compensate-fail=always", {"step": "seat", "kind": "transient"}])
    assert dict(p.metadata())["x-fault"] == (
        "process_payment:compensate-fail=always,reserve_seat:transient=1"
    )


@pytest.mark.parametrize(
    ("faults", "field"),
    [
        (["nonsense"], "faults[0]"),
        (["payment:explode"], "faults[0]"),
        (["rocket:fail"], "faults[0].step"),
        ([{"step": "payment", "kind": "transient", "arg": 0}], "faults[0].arg"),
        ([{"step": "payment", "kind": "transient", "arg": "many"}], "faults[0].arg"),
        ([{"step": "payment", "kind": "fail", "arg": 2}], "faults[0].arg"),
        ([{"step": "payment", "kind": "delay", "arg": "soon"}], "faults[0].arg"),
        (["seat:fail", {"step": "x", "kind": "fail"}], "faults[1].step"),
    ],
)
def test_bad_faults_name_the_field(faults: list[Any], field: str) -> None:
    assert field_of(faults=faults) == field


def test_unknown_fail_at_step() -> None:
    with pytest.raises(FieldError) as err:
        plan(fail_at=["payment", "teleport"])
    assert err.value.field == "fail_at[1]"
    assert "teleport" in str(err.value)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"card": {**body()["card"], "number": "4242424242424241"}}, "card.number"),
        ({"card": {**body()["card"], "number": "4242-abcd"}}, "card.number"),
        ({"card": {**body()["card"], "exp_year": 2026, "exp_month": 10}}, "card.exp_month"),
        ({"customer_id": "   "}, "customer_id"),
        ({"flight_ids": ["FS101-20261201", " "]}, "flight_ids[1]"),
        (
            {"passengers": [{"first_name": "A", "last_name": "B", "date_of_birth": "1990-02-30"}]},
            "passengers[0].date_of_birth",
        ),
        (
            {"passengers": [{"first_name": "A", "last_name": "B", "date_of_birth": "2030-01-01"}]},
            "passengers[0].date_of_birth",
        ),
        (
            {"seat_selections": [{"flight_id": "OTHER", "passenger_index": 0, "seat": "12C"}]},
            "seat_selections[0].flight_id",
        ),
        (
            {
                "seat_selections": [
                    {"flight_id": "FS101-20261201", "passenger_index": 3, "seat": "12C"}
                ]
            },
            "seat_selections[0].passenger_index",
        ),
        ({"idempotency_key": "has spaces"}, "idempotency_key"),
    ],
)
def test_semantic_errors_name_the_field(changes: dict[str, Any], field: str) -> None:
    assert field_of(**changes) == field


def test_card_expiring_this_month_is_fine() -> None:
    p = plan(card={**body()["card"], "exp_year": 2026, "exp_month": 11})
    assert p.request.card.exp_month == 11


@pytest.mark.parametrize(
    ("changes", "loc"),
    [
        ({"customer_id": None}, ("customer_id",)),
        ({"flight_ids": []}, ("flight_ids",)),
        ({"flight_ids": ["a", "b", "c", "d", "e"]}, ("flight_ids",)),
        ({"passengers": []}, ("passengers",)),
        ({"cabin_class": "cargo"}, ("cabin_class",)),
        ({"loyalty_points": -1}, ("loyalty_points",)),
        ({"loyalty_points": "lots"}, ("loyalty_points",)),
        ({"card": {**body()["card"], "exp_month": 13}}, ("card", "exp_month")),
        ({"card": {**body()["card"], "cvc": "12"}}, ("card", "cvc")),
        ({"custmer_id": "typo"}, ("custmer_id",)),
    ],
)
def test_shape_errors_are_caught_by_the_model(
    changes: dict[str, Any], loc: tuple[str, ...]
) -> None:
    with pytest.raises(ValidationError) as err:
        BookingIn.model_validate(body(**changes))
    assert tuple(err.value.errors()[0]["loc"]) == loc


def test_cabin_class_is_case_and_dash_insensitive() -> None:
    assert plan(cabin_class="premium-economy").request.cabin_class == common_pb2.PREMIUM_ECONOMY


def test_status_filter() -> None:
    assert status_filter(None) == 0
    assert status_filter("all") == 0
    assert status_filter("failed") == orchestrator_pb2.FAILED
    with pytest.raises(FieldError) as err:
        status_filter("bogus")
    assert err.value.field == "status"


def test_search_request() -> None:
    req = search_request("jfk", "lax", "2026-12-01", "2026-12-05", "business", 2)
    assert (req.origin, req.destination, req.date, req.return_date) == (
        "JFK",
        "LAX",
        "2026-12-01",
        "2026-12-05",
    )
    assert req.cabin_class == common_pb2.BUSINESS and req.passengers == 2


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("JFKX", "LAX", "2026-12-01"), "origin"),
        (("JFK", "", "2026-12-01"), "destination"),
        (("JFK", "jfk", "2026-12-01"), "destination"),
        (("JFK", "LAX", "12/01/2026"), "date"),
        (("JFK", "LAX", "2026-13-01"), "date"),
        (("JFK", "LAX", "2026-12-05", "2026-12-01"), "return_date"),
        (("JFK", "LAX", "2026-12-05", "", "cargo"), "cabin_class"),
    ],
)
def test_search_errors_name_the_field(args: tuple[Any, ...], field: str) -> None:
    with pytest.raises(FieldError) as err:
        search_request(*args)
    assert err.value.field == field


# ---- any saga (POST /api/sagas/start) -------------------------------------------------------


def test_a_saga_start_is_its_name_version_input_and_fault_headers() -> None:
    plan = saga_plan(
        SagaIn.model_validate(
            {
                "saga": " trip ",
                "version": 1,
                "input": {"guest": "Ann Lee", "city": "LIS", "nights": 3},
                "fail_at": ["car", " car", ""],
                "faults": [
                    "book_room:compensate-fail=always",
                    {"step": "hotel", "kind": "transient", "arg": 2},
                    {"step": "car", "kind": "fail"},
                ],
                "idempotency_key": "trip-1",
            }
        ),
        correlation_id="cid-1",
    )
    req = plan.request
    assert (req.saga, req.version, req.request_id, req.wait) == ("trip", 1, "trip-1", False)
    assert dict(req.input) == {"guest": "Ann Lee", "city": "LIS", "nights": 3.0}
    assert plan.metadata() == (
        ("x-correlation-id", "cid-1"),
        ("x-fail-at", "car"),
        ("x-fault", "book_room:compensate-fail=always,hotel:transient=2,car:fail"),
    )


def test_a_saga_start_without_faults_sends_none_and_gets_a_key() -> None:
    plan = saga_plan(SagaIn.model_validate({"saga": "trip", "input": {}}))
    assert [k for k, _ in plan.metadata()] == ["x-correlation-id"]
    assert len(plan.request.request_id) == 32
    assert plan.request.HasField("input")  # {} is still an input: the orchestrator checks it


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"faults": ["car"]}, "faults[0]"),
        ({"idempotency_key": "has space"}, "idempotency_key"),
        ({"correlation_id": "bad id!"}, "correlation_id"),
    ],
)
def test_a_bad_saga_start_names_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(FieldError) as info:
        saga_plan(SagaIn.model_validate({"saga": "trip", "input": {}, **changes}))
    assert info.value.field == field


def test_a_saga_start_needs_a_name_and_an_input_object() -> None:
    for bad in ({"input": {}}, {"saga": "trip"}, {"saga": "trip", "input": [1]}):
        with pytest.raises(ValidationError):
            SagaIn.model_validate(bad)
