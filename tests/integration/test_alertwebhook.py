"""The compose stack's alert receiver (tooling/alertwebhook.py) on a real port: Alertmanager's
webhook JSON in, the deliveries listed back; bad requests answered 400 naming what is wrong."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest

from tooling.alertwebhook import AlertWebhook, Deliveries

NOTIFICATION = {
    "version": "4",
    "status": "firing",
    "receiver": "flightsaga-webhook",
    "groupLabels": {"alertname": "FlightSagaSagaFailed"},
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "FlightSagaSagaFailed", "severity": "page"},
            "annotations": {"summary": "1 saga(s) FAILED"},
            "startsAt": "2026-12-07T10:00:00Z",
        }
    ],
}


@pytest.fixture
def webhook() -> Iterator[str]:
    server = AlertWebhook(("127.0.0.1", 0), Deliveries(keep=2))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_deliveries_are_kept_and_listed(webhook: str) -> None:
    assert httpx.get(f"{webhook}/alerts").json() == []
    assert httpx.get(f"{webhook}/healthz").status_code == 200
    for status in ("firing", "resolved", "firing"):
        reply = httpx.post(f"{webhook}/alerts", json={**NOTIFICATION, "status": status})
        assert reply.status_code == 200, reply.text
    kept = httpx.get(f"{webhook}/alerts").json()
    # At most `keep` of them: the oldest goes first.
    assert [n["status"] for n in kept] == ["resolved", "firing"]
    assert kept[1]["alerts"][0]["labels"]["alertname"] == "FlightSagaSagaFailed"
    assert kept[0]["receivedAt"] <= kept[1]["receivedAt"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"not json", "body"),
        (b"[1, 2]", "body"),
        (b'{"status": "firing"}', "alerts"),
        (b'{"alerts": "none"}', "alerts"),
    ],
)
def test_bad_notifications_are_refused_naming_the_field(
    webhook: str, body: bytes, field: str
) -> None:
    reply = httpx.post(f"{webhook}/alerts", content=body)
    assert reply.status_code == 400
    assert reply.json()["error"].startswith(f"{field}:")
    assert httpx.get(f"{webhook}/alerts").json() == []


def test_unknown_paths_are_not_found(webhook: str) -> None:
    assert httpx.get(f"{webhook}/nope").status_code == 404
    assert httpx.post(f"{webhook}/nope", json=NOTIFICATION).status_code == 404
    assert httpx.post(f"{webhook}/alerts").status_code == 400  # no body
