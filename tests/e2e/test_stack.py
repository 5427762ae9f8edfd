"""The stack as a user first meets it: every service up, the dashboard wired to the others."""

from __future__ import annotations

import json
import urllib.request

import pytest

from tests.e2e.tools import Stack

pytestmark = pytest.mark.e2e


def test_dashboard_answers_and_sees_every_grpc_service(stack: Stack) -> None:
    with urllib.request.urlopen(f"{stack.dashboard_url}/healthz", timeout=10) as reply:
        assert reply.status == 200
        doc = json.load(reply)
    assert doc["status"] == "ok"
    peers = doc["peers"]
    assert peers, doc
    # The dashboard is configured with the same addresses the CLI uses, and finds them SERVING.
    # In compose it reaches them inside the compose network, where each service keeps its own
    # port (the host publishes them on other ports, beside a running `make up`).
    expected = (
        {"50050", "50051", "50052", "50053", "50054"}
        if stack.mode == "compose"
        else {str(port) for port in stack.ports.values()}
    )
    assert {p["addr"].rsplit(":", 1)[1] for p in peers.values()} <= expected, doc
    assert {p["status"] for p in peers.values()} == {"SERVING"}, doc
