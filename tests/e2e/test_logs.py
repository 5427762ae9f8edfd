"""One correlation id through every process: the orchestrator's and each participant's log file."""

from __future__ import annotations

import time
import uuid

import pytest
from google.protobuf import json_format

from flightsaga.v1 import orchestrator_pb2 as pb
from tests.e2e.conftest import local_only
from tests.e2e.tools import ROUTE, SERVICES, Stack, cli, log_lines

pytestmark = [pytest.mark.e2e, local_only]


def test_one_correlation_id_in_every_service_log(stack: Stack) -> None:
    cid = f"e2e-trace-{uuid.uuid4().hex[:12]}"
    origin, dest, date = ROUTE
    result = cli(stack, "book", "--from", origin, "--to", dest, "--date", date,
                 "--correlation-id", cid, "--json")  # fmt: skip
    assert result.code == 0, result
    saga = json_format.Parse(result.out, pb.Saga())
    assert saga.correlation_id == cid

    # The launcher copies each service's output to <log-dir>/<service>.log as it arrives.
    marker = f"cid={cid} saga={saga.saga_id} "
    missing: list[str] = list(SERVICES)
    deadline = time.monotonic() + 10
    while missing and time.monotonic() < deadline:
        missing = [s for s in SERVICES if not any(marker in ln for ln in log_lines(stack, s))]
        time.sleep(0.1)
    assert not missing, f"no log line with {marker!r} in: {', '.join(missing)}"

    # ...and the id is never attached to another saga's lines.
    for service in SERVICES:
        for line in log_lines(stack, service):
            if f"cid={cid} " in line:
                assert f" saga={saga.saga_id} " in line or " saga=- " in line, (service, line)
    orchestrator = [ln for ln in log_lines(stack, "orchestrator") if marker in ln]
    assert any("[SAGA]" in ln and "completed" in ln.lower() for ln in orchestrator), orchestrator
