"""METRICS_PORT: Prometheus text with RPC outcomes and the orchestrator's saga states."""

from __future__ import annotations

import asyncio
import re
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


def sample(text: str, name: str) -> float:
    """The value of an unlabelled sample in Prometheus text."""
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert found, f"{name} not in the scrape"
    return float(found.group(1))


async def test_alerting_metrics_compensation_retrying_and_log_commits(tmp_path: Path) -> None:
    """What docker/prometheus/alerts.yml alerts on: a compensation failing for a while shows
    how long it has been retried, back to 0 once its saga ends; each commit is timed."""
    async with running_participants(tmp_path) as addrs:
        env = orchestrator_env(
            addrs, tmp_path, COMPENSATION_MAX_ATTEMPTS="12", COMPENSATION_BACKOFF_CAP_S="0.3"
        )
        app = build(config_for("orchestrator", tmp_path), env)
        app.metrics_port = 0
        port = await app.start("127.0.0.1", 0)
        stack = Stack(f"127.0.0.1:{port}", addrs, tmp_path)
        try:
            flight = await first_flight(stack)
            booking = asyncio.ensure_future(
                stack.orchestrator.BookFlight(
                    book_request([flight]),
                    metadata=(
                        ("x-fail-at", "booking"),
                        ("x-fault", "payment:compensate-fail=always"),
                    ),
                    timeout=60,
                )
            )
            retried = 0.0
            while not booking.done() and retried == 0:
                text = await scrape(app.metrics.port)
                retried = sample(text, "flightsaga_compensation_retrying_seconds")
                await asyncio.sleep(0.02)
            assert retried > 0, "the failing compensation never showed as retrying"
            saga = await booking
            assert saga.status == orchestrator_pb2.FAILED
            text = await scrape(app.metrics.port)
            assert sample(text, "flightsaga_compensation_retrying_seconds") == 0
            assert sample(text, "flightsaga_saga_log_commit_seconds_count") >= 10
            assert sample(text, "flightsaga_sagas_active") == 0
        finally:
            for channel in stack.channels:
                await channel.close()
            await app.stop(0)


def test_metrics_port_is_validated_and_optional() -> None:
    base = {"DATABASE_URL": "sqlite:///x.db"}
    assert ServiceConfig.from_env("seat_service", 50051, base).metrics_port is None
    assert (
        ServiceConfig.from_env("seat_service", 50051, {**base, "METRICS_PORT": "9100"}).metrics_port
        == 9100
    )
    with pytest.raises(ConfigError, match="METRICS_PORT"):
        ServiceConfig.from_env("seat_service", 50051, {**base, "METRICS_PORT": "lots"})
