"""docker-compose runs with mTLS between every service (docs/security.md#transport): the published
ports refuse plaintext, and a participant's Do is the orchestrator certificate's alone."""

from __future__ import annotations

import asyncio
import json
import uuid

from tests.compose import stackctl
from tests.compose.stackctl import Clients
from tests.e2e.tools import grpcurl_transport
from tests.support.dates import flight_id

PERMISSION_DENIED_EXIT = 64 + 7  # grpcurl exits 64 + the status code


async def run_status(*argv: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode()


async def test_plaintext_is_refused_and_a_client_certificate_cannot_call_do(
    clients: Clients,
) -> None:
    grpcurl = stackctl.grpcurl_path()
    orchestrator, seat = stackctl.GRPC_ADDRS["orchestrator"], stackctl.GRPC_ADDRS["seat"]
    plain = await run_status(grpcurl, "-plaintext", "-max-time", "5", orchestrator, "list")
    assert plain[0] != 0, plain
    listed = await run_status(grpcurl, *grpcurl_transport(), orchestrator, "list")
    assert listed[0] == 0 and "flightsaga.v1.Orchestrator" in listed[1], listed
    body = json.dumps(
        {
            "saga_id": f"tls-{uuid.uuid4().hex[:12]}",
            "flight_ids": [flight_id("FS105", 1)],
            "cabin_class": "ECONOMY",
            "passengers": [{"first_name": "Eve", "last_name": "Mallory"}],
        }
    )
    do = "flightsaga.v1.SeatService/Do"
    refused = await run_status(grpcurl, *grpcurl_transport(), "-d", body, seat, do)
    assert refused[0] == PERMISSION_DENIED_EXIT, refused
    assert "orchestrator" in refused[1], refused
