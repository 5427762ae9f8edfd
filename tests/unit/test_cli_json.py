"""`flightsaga … --json`: numbers keep their types (no "101200" for an amount, no 14.0)."""

from __future__ import annotations

import json

from google.protobuf import struct_pb2

from cli.render import as_json
from flightsaga.v1 import orchestrator_pb2 as pb


def test_json_output_prints_amounts_and_counts_as_integers() -> None:
    result = struct_pb2.Struct()
    result.update({"seats_available": 14, "passenger_index": 0, "fare_cents": 101200})
    saga = pb.Saga(
        saga_id="s1",
        fare_cents=101200,
        amount_charged_cents=90000,
        steps=[pb.StepRecord(name="reserve_seat", attempts=1, result=result)],
    )
    out = json.loads(as_json(saga))
    assert out["fare_cents"] == 101200 and isinstance(out["fare_cents"], int)
    assert out["steps"][0]["result"] == {
        "seats_available": 14,
        "passenger_index": 0,
        "fare_cents": 101200,
    }
    assert all(isinstance(v, int) for v in out["steps"][0]["result"].values())
