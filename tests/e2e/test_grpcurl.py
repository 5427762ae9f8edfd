"""The real grpcurl binary against every service: reflection, describe, JSON bodies, headers."""

from __future__ import annotations

import json
import uuid

import pytest
from google.protobuf import json_format

from flightsaga.v1 import orchestrator_pb2 as pb
from tests.e2e.tools import FULL_NAMES, SERVICES, STEPS, Stack, grpcurl
from tests.support.dates import flight_id

pytestmark = pytest.mark.e2e

BOOK = "flightsaga.v1.Orchestrator/BookFlight"
NOT_FOUND_EXIT = 64 + 5  # grpcurl exits 64 + the status code
INVALID_ARGUMENT_EXIT = 64 + 3


def body(flight_id: str = flight_id("FS101", 1)) -> dict[str, object]:
    return {
        "customer_id": "LOY-1001",
        "flight_ids": [flight_id],
        "passengers": [{"first_name": "Alan", "last_name": "Turing"}],
        "cabin_class": "ECONOMY",
        "loyalty_points": 100,
        "card": {
            "number": "4242424242424242",
            "exp_month": 12,
            "exp_year": 2030,
            "cvc": "123",
            "holder_name": "Alan Turing",
        },
    }


@pytest.mark.parametrize("service", SERVICES)
def test_reflection_lists_each_service_and_health_is_serving(stack: Stack, service: str) -> None:
    listed = grpcurl(stack.addr(service), "list")
    assert listed.code == 0, listed
    assert set(listed.out.split()) >= {FULL_NAMES[service], "grpc.health.v1.Health"}, listed

    health = grpcurl(stack.addr(service), "grpc.health.v1.Health/Check")
    assert health.code == 0, health
    assert json.loads(health.out) == {"status": "SERVING"}


def test_describe_the_orchestrator(stack: Stack) -> None:
    result = grpcurl(stack.orchestrator, "describe", "flightsaga.v1.Orchestrator")
    assert result.code == 0, result
    for rpc in ("BookFlight", "GetSaga", "ListSagas", "ResumeSaga", "GetStats"):
        assert f"rpc {rpc} (" in result.out, result
    assert "returns ( stream .flightsaga.v1.SagaEvent )" in result.out, result


def test_book_with_a_json_body_from_stdin(stack: Stack) -> None:
    cid = f"e2e-curl-{uuid.uuid4().hex[:12]}"
    result = grpcurl(
        "-H", f"x-correlation-id: {cid}", "-d", "@", stack.orchestrator, BOOK,
        input=json.dumps(body()),
    )  # fmt: skip
    assert result.code == 0, result
    saga = json_format.Parse(result.out, pb.Saga())  # grpcurl prints camelCase names
    assert pb.SagaStatus.Name(saga.status) == "COMPLETED", result
    assert saga.correlation_id == cid
    assert len(saga.booking_reference) == 6

    got = grpcurl("-d", json.dumps({"saga_id": saga.saga_id}), stack.orchestrator,
                  "flightsaga.v1.Orchestrator/GetSaga")  # fmt: skip
    assert got.code == 0, got
    assert json_format.Parse(got.out, pb.Saga()).booking_reference == saga.booking_reference


def test_x_fail_at_header_compensates(stack: Stack) -> None:
    result = grpcurl(
        "-H", "x-fail-at: payment", "-d", json.dumps(body()), stack.orchestrator, BOOK
    )  # fmt: skip
    assert result.code == 0, result  # the RPC succeeded: it returns the compensated saga
    saga = json_format.Parse(result.out, pb.Saga())
    assert pb.SagaStatus.Name(saga.status) == "COMPENSATED", result
    assert list(saga.compensation_order) == ["deduct_loyalty_points", "reserve_seat"]
    assert [pb.StepState.Name(s.state) for s in saga.steps] == [
        "COMPENSATED_STEP",
        "COMPENSATED_STEP",
        "STEP_FAILED",
        "SKIPPED",
    ]
    assert saga.fault_plan.startswith(STEPS[2])
    assert not saga.booking_reference


def test_rpc_errors_exit_64_plus_the_code(stack: Stack) -> None:
    missing = grpcurl("-d", '{"saga_id": "nope"}', stack.orchestrator,
                      "flightsaga.v1.Orchestrator/GetSaga")  # fmt: skip
    assert missing.code == NOT_FOUND_EXIT, missing
    assert "NotFound" in missing.err, missing

    bad = body()
    bad["customer_id"] = ""
    refused = grpcurl("-d", json.dumps(bad), stack.orchestrator, BOOK)
    assert refused.code == INVALID_ARGUMENT_EXIT, refused
    assert "customer_id" in refused.err, refused


def test_list_and_stats_through_grpcurl(stack: Stack) -> None:
    booked = grpcurl("-d", json.dumps(body()), stack.orchestrator, BOOK)
    assert booked.code == 0, booked
    stats = grpcurl(stack.orchestrator, "flightsaga.v1.Orchestrator/GetStats")
    assert stats.code == 0, stats
    parsed = json_format.Parse(stats.out, pb.Stats())
    assert parsed.total >= 1 and parsed.completed >= 1, stats

    page = grpcurl("-d", '{"status": "COMPLETED", "page_size": 5}', stack.orchestrator,
                   "flightsaga.v1.Orchestrator/ListSagas")  # fmt: skip
    assert page.code == 0, page
    listed = json_format.Parse(page.out, pb.ListSagasResponse())
    assert 1 <= len(listed.sagas) <= 5
    assert all(s.status == pb.COMPLETED for s in listed.sagas)


def test_start_saga_takes_any_served_saga_by_name_with_its_input_as_json(stack: Stack) -> None:
    types = grpcurl(stack.orchestrator, "flightsaga.v1.Orchestrator/ListSagaTypes")
    assert types.code == 0, types
    served = json_format.Parse(types.out, pb.ListSagaTypesResponse())
    assert [(t.name, t.version, t.latest) for t in served.sagas] == [("book_flight", 1, True)]
    assert [s.name for s in served.sagas[0].steps] == list(STEPS)

    start = {"saga": "book_flight", "request_id": uuid.uuid4().hex, "input": body(), "wait": True}
    result = grpcurl(
        "-H", "x-fail-at: booking", "-d", json.dumps(start), stack.orchestrator,
        "flightsaga.v1.Orchestrator/StartSaga",
    )  # fmt: skip
    assert result.code == 0, result
    saga = json_format.Parse(result.out, pb.Saga())
    assert (saga.saga, saga.saga_version) == ("book_flight", 1)
    assert pb.SagaStatus.Name(saga.status) == "COMPENSATED", result
    assert saga.request.card.number == "****4242"  # tokenised and masked as by BookFlight

    unknown = grpcurl(
        "-d", json.dumps({**start, "saga": "cruise"}), stack.orchestrator,
        "flightsaga.v1.Orchestrator/StartSaga",
    )  # fmt: skip
    assert unknown.code == INVALID_ARGUMENT_EXIT, unknown
    assert "saga: unknown saga 'cruise'" in unknown.err, unknown
