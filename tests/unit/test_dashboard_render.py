"""Dashboard: config, proto -> JSON, log lines, proof summaries and error mapping (pure)."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from fastapi.exceptions import RequestValidationError
from google.protobuf.timestamp_pb2 import Timestamp

from dashboard.config import DashboardConfig
from dashboard.errors import validation_error_body
from dashboard.jsonview import event_dict, is_booking, to_dict
from dashboard.loglines import event_log_line
from dashboard.peers import map_rpc_error
from dashboard.proof import loyalty_proof, payment_proof, seat_proof
from flightsaga.v1 import booking_pb2, loyalty_pb2, orchestrator_pb2, payment_pb2, seat_pb2
from sagakit.config import ConfigError
from sagakit.errors import DETAILS_KEY, DomainError, InvalidArgument


def test_config_defaults() -> None:
    config = DashboardConfig.from_env({})
    assert (config.host, config.port) == ("0.0.0.0", 8080)
    assert config.orchestrator.addr == "127.0.0.1:50050"
    assert [p.addr for p in config.peers][1:] == [f"127.0.0.1:{n}" for n in range(50051, 50055)]


def test_config_from_env() -> None:
    config = DashboardConfig.from_env(
        {"PORT": "9000", "ORCHESTRATOR_ADDR": "orch:1234", "LOG_FORMAT": "json"}
    )
    assert config.port == 9000 and config.orchestrator.addr == "orch:1234"
    assert config.log_format == "json"
    assert DashboardConfig.from_env({"LISTEN_ADDR": "127.0.0.1:8181"}).host == "127.0.0.1"


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"ORCHESTRATOR_ADDR": "nohost"}, "ORCHESTRATOR_ADDR"),
        ({"SEAT_SERVICE_ADDR": "seat:port"}, "SEAT_SERVICE_ADDR"),
        ({"LOYALTY_SERVICE_ADDR": "x:0"}, "LOYALTY_SERVICE_ADDR"),
        ({"PAYMENT_SERVICE_ADDR": ":50053"}, "PAYMENT_SERVICE_ADDR"),
        ({"BOOKING_SERVICE_ADDR": "b:99999"}, "BOOKING_SERVICE_ADDR"),
        ({"PORT": "http"}, "PORT"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
        ({"SAGAS": "sagas.nowhere"}, "SAGAS"),
        (
            {"SAGAS": "sagas.booking,examples.trip", "HOTEL_SERVICE_ADDR": "h:x"},
            "HOTEL_SERVICE_ADDR",
        ),
    ],
)
def test_config_errors_name_the_variable(env: dict[str, str], name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        DashboardConfig.from_env(env)


def test_config_knows_every_served_sagas_participants() -> None:
    config = DashboardConfig.from_env(
        {"SAGAS": "sagas.booking,examples.trip", "CAR_SERVICE_ADDR": "cars:7000"}
    )
    assert list(config.participants) == ["seat", "loyalty", "payment", "booking", "hotel", "car"]
    assert config.participants["seat"] is config.seat
    hotel, car = config.participants["hotel"], config.participants["car"]
    assert (hotel.addr, hotel.env_var) == ("127.0.0.1:50055", "HOTEL_SERVICE_ADDR")
    assert (car.addr, car.name) == ("cars:7000", "car rental service")
    assert [p.name for p in config.peers][-2:] == ["hotel service", "car rental service"]


def test_config_of_a_stack_without_the_booking_still_knows_the_bookings_peers() -> None:
    config = DashboardConfig.from_env({"SAGAS": "examples.trip"})
    assert list(config.participants) == ["hotel", "car"]
    assert [p.env_var for p in config.peers] == [
        "ORCHESTRATOR_ADDR",
        "HOTEL_SERVICE_ADDR",
        "CAR_SERVICE_ADDR",
    ]
    # The booking's pages and proof still have their four channels (to their defaults).
    assert list(config.channels) == [
        "orchestrator",
        "seat",
        "loyalty",
        "payment",
        "booking",
        "hotel",
        "car",
    ]


def test_local_config_moves_any_served_peer_by_name() -> None:
    config = DashboardConfig.local(
        "sagas.booking,examples.trip", orchestrator="o:1", seat="s:2", hotel="h:3"
    )
    assert (config.orchestrator.addr, config.seat.addr) == ("o:1", "s:2")
    assert config.participants["seat"] is config.seat
    assert config.participants["hotel"].addr == "h:3"
    assert config.participants["car"].addr == "127.0.0.1:50056"
    with pytest.raises(TypeError, match="no peer 'hotel'"):
        DashboardConfig.local(hotel="h:3")  # the booking alone has no hotel


def test_a_saga_is_a_booking_by_its_name_or_none() -> None:
    assert is_booking(orchestrator_pb2.Saga(saga="book_flight"))
    assert is_booking(orchestrator_pb2.Saga())  # an orchestrator from before StartSaga
    assert not is_booking(orchestrator_pb2.Saga(saga="trip"))


def test_to_dict_uses_proto_names_enum_names_and_ints() -> None:
    saga = orchestrator_pb2.Saga(saga_id="s1", status=orchestrator_pb2.FAILED, fare_cents=28900)
    out = to_dict(saga)
    assert out["status"] == "FAILED"
    assert out["fare_cents"] == 28900
    assert out["booking_reference"] == ""  # every field present
    assert out["compensation_order"] == []


def _event(**kw: Any) -> orchestrator_pb2.SagaEvent:
    at = Timestamp()
    at.FromJsonString("2026-11-26T07:05:01.718Z")
    return orchestrator_pb2.SagaEvent(saga_id="s1", correlation_id="c1", at=at, **kw)


def test_log_lines_keep_the_original_markers() -> None:
    line = event_log_line(
        _event(
            seq=3,
            type=orchestrator_pb2.STEP_FAILED_EVENT,
            step="process_payment",
            attempt=1,
            status=orchestrator_pb2.RUNNING,
            message="ABORTED: declined",
        )
    )
    assert line.startswith("2026-11-26T07:05:01.718+00:00 ERROR")  # ISO 8601, UTC offset
    assert "cid=c1 saga=s1 [SAGA STEP] step_failed step=process_payment attempt=1" in line
    assert line.endswith("- ABORTED: declined")
    comp = event_log_line(_event(type=orchestrator_pb2.COMPENSATION_STARTED, step="reserve_seat"))
    assert "[COMPENSATION] compensation_started step=reserve_seat" in comp
    assert "[SAGA] saga_completed" in event_log_line(_event(type=orchestrator_pb2.SAGA_COMPLETED))
    assert event_dict(_event(seq=1, type=orchestrator_pb2.SAGA_STARTED))["log"].endswith(
        "status=SAGA_STATUS_UNSPECIFIED"
    )


def test_proof_summaries() -> None:
    released = Timestamp(seconds=10)
    holds = seat_pb2.SeatHolds(
        holds=[seat_pb2.SeatHold(flight_id="F", seat="11A", released_at=released)]
    )
    assert seat_proof(holds)["state"] == "released"
    assert seat_proof(seat_pb2.SeatHolds(holds=[seat_pb2.SeatHold(seat="1A")]))["state"] == "held"
    assert seat_proof(seat_pb2.SeatHolds())["state"] == "none"
    moves = loyalty_pb2.PointsMovements(
        movements=[
            loyalty_pb2.PointsMovement(delta=-500, kind="deduction"),
            loyalty_pb2.PointsMovement(delta=500, kind="refund"),
        ]
    )
    out = loyalty_proof(moves)
    assert (out["state"], out["deducted"], out["refunded"]) == ("refunded", 500, 500)
    pays = payment_pb2.Payments(
        entries=[
            payment_pb2.LedgerEntry(kind="charge", amount_cents=28400),
            payment_pb2.LedgerEntry(kind="refund", amount_cents=28400),
        ]
    )
    assert payment_proof(pays)["summary"] == "charged 284.00 USD, refunded 284.00 USD"


def test_booking_proof_uses_the_last_booking() -> None:
    from dashboard.proof import booking_proof

    recs = booking_pb2.BookingRecords(
        bookings=[booking_pb2.Booking(booking_reference="K7QX2M", status="CANCELLED")]
    )
    assert booking_proof(recs)["state"] == "cancelled"
    assert booking_proof(booking_pb2.BookingRecords())["state"] == "none"


class _RpcError(grpc.aio.AioRpcError):  # type: ignore[misc]
    def __init__(
        self, code: grpc.StatusCode, details: str, error: DomainError | None = None
    ) -> None:
        trailing = grpc.aio.Metadata()
        if error is not None:  # the status details a FlightSaga service sends
            trailing.add(DETAILS_KEY, error.status().SerializeToString())
        super().__init__(code, grpc.aio.Metadata(), trailing, details)


def test_rpc_errors_map_to_http() -> None:
    config = DashboardConfig.from_env({"ORCHESTRATOR_ADDR": "orch:50050"})
    orch = config.orchestrator
    unavailable = map_rpc_error(orch, _RpcError(grpc.StatusCode.UNAVAILABLE, "failed to connect"))
    assert unavailable.status == 503
    assert unavailable.message == "orchestrator unreachable at orch:50050 (ORCHESTRATOR_ADDR)"
    invalid = InvalidArgument("card.number", "bad")
    bad = map_rpc_error(
        orch, _RpcError(grpc.StatusCode.INVALID_ARGUMENT, "card.number: bad", invalid)
    )
    # The field comes from the BadRequest detail, not from the message.
    assert (bad.status, bad.message, bad.field) == (400, "card.number: bad", "card.number")
    assert bad.body()["reason"] == "INVALID_ARGUMENT"
    bare = map_rpc_error(orch, _RpcError(grpc.StatusCode.INVALID_ARGUMENT, "card.number: bad"))
    assert bare.field is None
    assert map_rpc_error(orch, _RpcError(grpc.StatusCode.NOT_FOUND, "saga_id: no")).status == 404
    assert map_rpc_error(orch, _RpcError(grpc.StatusCode.FAILED_PRECONDITION, "x")).status == 409
    assert map_rpc_error(orch, _RpcError(grpc.StatusCode.DEADLINE_EXCEEDED, "")).status == 504
    assert map_rpc_error(orch, _RpcError(grpc.StatusCode.INTERNAL, "boom")).status == 502


def test_validation_error_body_names_the_field() -> None:
    exc = RequestValidationError(
        [
            {
                "loc": ("body", "passengers", 0, "first_name"),
                "msg": "Field required",
                "type": "missing",
            },
            {
                "loc": ("body", "card", "cvc"),
                "msg": "String should match",
                "type": "string_pattern_mismatch",
            },
        ]
    )
    out = validation_error_body(exc)
    assert out["field"] == "passengers[0].first_name"
    assert out["error"] == "passengers[0].first_name: field required"
    assert [e["field"] for e in out["errors"]] == ["passengers[0].first_name", "card.cvc"]


def test_bad_json_and_unknown_fields() -> None:
    bad_json = RequestValidationError(
        [
            {
                "loc": ("body", 12),
                "msg": "JSON decode error",
                "type": "json_invalid",
                "ctx": {"error": "Expecting ','"},
            }
        ]
    )
    assert validation_error_body(bad_json) == {
        "error": "body: invalid JSON: Expecting ','",
        "field": "body",
        "errors": [{"field": "body", "message": "invalid JSON: Expecting ','"}],
    }
    extra = RequestValidationError(
        [{"loc": ("body", "custmer_id"), "msg": "Extra inputs", "type": "extra_forbidden"}]
    )
    assert validation_error_body(extra)["error"] == "custmer_id: is not a known field"
