"""Alerts that reach someone: every rule of docker/prometheus/alerts.yml passes promtool's unit
tests in the stack's Prometheus image, and a saga pushed to FAILED becomes a notification that
Alertmanager delivers to the alert-webhook receiver."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx

from flightsaga.v1 import orchestrator_pb2 as pb
from tests.compose import sagas, stackctl
from tests.compose.monitoring import api, delivered, deliveries, eventually
from tests.compose.stackctl import Clients

FAILED_ALERT = "FlightSagaSagaFailed"
# Prometheus evaluates every 2 s, Alertmanager groups for 1 s and flushes a group every 5 s
# (docker/prometheus/prometheus.yml, docker/alertmanager/alertmanager.yml): a delivery takes
# seconds; the bound leaves room for a loaded machine.
DELIVERY_WITHIN = 60.0


async def test_the_alert_rules_pass_their_unit_tests() -> None:
    """promtool test rules docker/prometheus/alerts.test.yml, with the running Prometheus' image:
    each rule fires on the series it is about, after its window, and not before."""
    prometheus = await stackctl.container_id("prometheus")
    image = (await stackctl.run("docker", "inspect", "-f", "{{.Config.Image}}", prometheus)).strip()
    rules = stackctl.REPO / "docker" / "prometheus"
    # The whole output goes into the failure message when a rule's test fails.
    await stackctl.run(
        *("docker", "run", "--rm", "--network", "none", "--entrypoint", "promtool"),
        *("-v", f"{rules}:/rules:ro", "-w", "/rules", image, "test", "rules", "alerts.test.yml"),
        timeout=120,
    )


def last_told(notifications: list[dict[str, Any]], alertname: str) -> str:
    """What the receiver was last told of `alertname`: firing, resolved, or '' (nothing yet)."""
    told = ""
    for notification in notifications:
        for alert in notification["alerts"]:
            if alert["labels"].get("alertname") == alertname:
                told = alert["status"]
    return told


async def resume_failed_sagas(clients: Clients) -> None:
    """Resume every FAILED saga with its faults cleared, so their compensations finish and the
    FAILED-saga alert stops: the one this test raises is then its own saga's."""
    failed: list[str] = []
    token = ""
    while True:
        page = await clients.orchestrator.ListSagas(
            pb.ListSagasRequest(status=pb.FAILED, page_size=200, page_token=token), timeout=10
        )
        failed += [s.saga_id for s in page.sagas]
        token = page.next_page_token
        if not token:
            break
    for saga_id in failed:
        await clients.orchestrator.ResumeSaga(
            pb.ResumeSagaRequest(saga_id=saga_id, clear_faults=True), timeout=10
        )
    for saga_id in failed:
        done = await sagas.wait_terminal(clients, saga_id)
        assert done.status != pb.FAILED, f"{saga_id} FAILED again: {done.error}"


async def test_a_failed_saga_is_delivered_to_the_webhook(clients: Clients) -> None:
    await resume_failed_sagas(clients)
    async with httpx.AsyncClient(timeout=5) as http:

        async def quiet() -> bool:
            active = (await api(http, "alerts"))["alerts"]
            return all(a["labels"]["alertname"] != FAILED_ALERT for a in active) and (
                last_told(await deliveries(http), FAILED_ALERT) != "firing"
            )

        await eventually(f"no {FAILED_ALERT} firing, the receiver told so", quiet, DELIVERY_WITHIN)
        seen = len(await deliveries(http))

        # The booking fails at its last step, then the loyalty refund fails for good.
        flight = await sagas.roomiest_flight(clients)
        saga = await clients.orchestrator.BookFlight(
            sagas.book_request(flight, "A1"),
            metadata=(("x-fail-at", "booking"), ("x-fault", "loyalty:compensate-fail=always")),
            timeout=30,
        )
        saga = await sagas.wait_terminal(clients, saga.saga_id)
        assert saga.status == pb.FAILED, saga.error
        failed_at = time.monotonic()

        alert, *_ = await eventually(
            f"{FAILED_ALERT} delivered",
            lambda: delivered(http, FAILED_ALERT, after=seen),
            DELIVERY_WITHIN,
        )
        took = time.monotonic() - failed_at
        assert alert["labels"]["severity"] == "page"
        assert re.match(r"\d+ saga\(s\) FAILED", alert["annotations"]["summary"]), alert
        assert "flightsaga resume" in alert["annotations"]["runbook"]
        # Alertmanager holds it as active, routed to the webhook receiver.
        reply = await http.get(
            f"{stackctl.ALERTMANAGER_URL}/api/v2/alerts",
            params={"filter": f'alertname="{FAILED_ALERT}"'},
        )
        reply.raise_for_status()
        (held,) = reply.json()
        assert held["receivers"] == [{"name": "flightsaga-webhook"}]
        print(f"{FAILED_ALERT} delivered {took:.1f} s after the saga FAILED")
