"""METRICS_PORT: Prometheus text with RPC outcomes and the orchestrator's saga states."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from flightsaga.v1 import orchestrator_pb2
from orchestrator.app import build
from sagakit.config import ConfigError, ServiceConfig
from tests.support.booking import book_request, first_flight
from tests.support.services import config_for
from tests.support.stack import Stack, orchestrator_env, running_participants


async def scrape(port: int, path: str = "/metrics") -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    raw = await reader.read()
    writer.close()
    return raw.decode()


async def test_orchestrator_exposes_saga_states_and_rpc_counts(tmp_path: Path) -> None:
    async with running_participants(tmp_path) as addrs:
        app = build(config_for("orchestrator", tmp_path), orchestrator_env(addrs, tmp_path))
        app.metrics_port = 0
        port = await app.start("127.0.0.1", 0)
        stack = Stack(f"127.0.0.1:{port}", addrs, tmp_path)
        try:
            flight = await first_flight(stack)
            await stack.orchestrator.BookFlight(book_request([flight]), timeout=10)
            await stack.orchestrator.BookFlight(
                book_request([flight]),
                metadata=(("x-fail-at", "booking"), ("x-fault", "payment:compensate-fail=always")),
                timeout=30,
            )
            text = await scrape(app.metrics.port)
            assert text.startswith("HTTP/1.1 200 OK")
            assert 'flightsaga_sagas{status="COMPLETED"} 1.0' in text
            assert 'flightsaga_sagas{status="FAILED"} 1.0' in text
            assert "flightsaga_compensations_pending 3.0" in text
            assert (
                'flightsaga_rpc_server_seconds_count{code="OK",method="BookFlight",'
                'service="orchestrator"} 2.0' in text
            )
            assert 'flightsaga_saga_duration_seconds_count{outcome="COMPLETED"} 1.0' in text
            assert 'flightsaga_saga_duration_seconds_count{outcome="FAILED"} 1.0' in text
            # The failing compensation of the payment was retried up to its limit.
            assert (
                'flightsaga_step_attempt_seconds_count{op="Do",outcome="ABORTED",'
                'step="confirm_booking"} 1.0' in text
            )
            assert 'flightsaga_compensations_total{outcome="INTERNAL",step="process_payment"}' in (
                text
            )
            assert 'flightsaga_step_retries_total{op="Compensate",step="process_payment"}' in text
            # GetStats answers from the same counts, kept as the sagas moved.
            stats = await stack.orchestrator.GetStats(orchestrator_pb2.GetStatsRequest())
            assert (stats.completed, stats.failed, stats.compensations_pending) == (1, 1, 3)
            assert "404" in (await scrape(app.metrics.port, "/nope")).splitlines()[0]
        finally:
            for channel in stack.channels:
                await channel.close()
            await app.stop(0)
        # A restarted orchestrator counts the saga log once, at start, and answers the same.
        again = build(config_for("orchestrator", tmp_path), orchestrator_env(addrs, tmp_path))
        port = await again.start("127.0.0.1", 0)
        stack = Stack(f"127.0.0.1:{port}", addrs, tmp_path)
        try:
            stats = await stack.orchestrator.GetStats(orchestrator_pb2.GetStatsRequest())
            assert (stats.completed, stats.failed, stats.compensations_pending) == (1, 1, 3)
        finally:
            for channel in stack.channels:
                await channel.close()
            await again.stop(0)


def test_metrics_port_is_validated_and_optional() -> None:
    base = {"DATABASE_URL": "sqlite:///x.db"}
    assert ServiceConfig.from_env("seat_service", 50051, base).metrics_port is None
    assert (
        ServiceConfig.from_env("seat_service", 50051, {**base, "METRICS_PORT": "9100"}).metrics_port
        == 9100
    )
    with pytest.raises(ConfigError, match="METRICS_PORT"):
        ServiceConfig.from_env("seat_service", 50051, {**base, "METRICS_PORT": "lots"})
