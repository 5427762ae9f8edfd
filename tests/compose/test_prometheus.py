"""Prometheus in the compose stack: it scrapes every gRPC service (the series exist, through its
HTTP API), and its FAILED-saga alert fires after a saga whose compensation always fails."""

from __future__ import annotations

from typing import Any

import httpx

from flightsaga.v1 import orchestrator_pb2 as pb
from tests.compose import sagas
from tests.compose.monitoring import api, eventually
from tests.compose.stackctl import Clients

SCRAPED = ("orchestrator", "seat_service", "loyalty_service", "payment_service", "booking_service")


async def test_every_service_is_scraped_and_the_saga_series_exist(clients: Clients) -> None:
    flight = await sagas.roomiest_flight(clients)
    started = await sagas.start(clients, sagas.book_request(flight, "P1"))
    done = await sagas.wait_terminal(clients, started.saga_id)
    assert done.status == pb.COMPLETED
    async with httpx.AsyncClient(timeout=5) as http:

        async def targets_up() -> bool:
            data = await api(http, "query", query='up{job="flightsaga"}')
            up = {r["metric"]["service"]: r["value"][1] for r in data["result"]}
            return up == dict.fromkeys(SCRAPED, "1")

        await eventually("every service scraped and up", targets_up)

        async def series(query: str) -> list[Any]:
            return list((await api(http, "query", query=query))["result"])

        rpc = await eventually(
            "RPC latency series from every service",
            lambda: series("sum by (service) (flightsaga_rpc_server_seconds_count)"),
        )
        assert {r["metric"]["service"] for r in rpc} >= set(SCRAPED)
        for query in (
            'flightsaga_saga_duration_seconds_count{outcome="COMPLETED"}',
            'flightsaga_step_attempt_seconds_bucket{step="confirm_booking",op="Do"}',
            'flightsaga_sagas{status="COMPLETED"}',
            "flightsaga_compensations_pending",
        ):
            assert await eventually(query, lambda q=query: series(q)), query


async def test_the_failed_saga_alert_fires(clients: Clients) -> None:
    flight = await sagas.roomiest_flight(clients)
    # The booking fails at its last step, then the payment's compensation fails for good.
    saga = await clients.orchestrator.BookFlight(
        sagas.book_request(flight, "P3"),
        metadata=(("x-fail-at", "booking"), ("x-fault", "payment:compensate-fail=always")),
        timeout=10,
    )
    saga = await sagas.wait_terminal(clients, saga.saga_id)
    assert saga.status == pb.FAILED, saga.error
    async with httpx.AsyncClient(timeout=5) as http:

        async def firing() -> list[Any]:
            alerts = (await api(http, "alerts"))["alerts"]
            return [
                a
                for a in alerts
                if a["labels"]["alertname"] == "FlightSagaSagaFailed" and a["state"] == "firing"
            ]

        (alert,) = await eventually("the FlightSagaSagaFailed alert firing", firing)
        assert float(alert["value"]) >= 1
        rules = await api(http, "rules")
        names = {r["name"] for g in rules["groups"] for r in g["rules"]}
        assert names >= {"FlightSagaSagaFailed", "FlightSagaHighCompensationRate"}
