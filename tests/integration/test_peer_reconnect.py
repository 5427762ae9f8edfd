"""A participant that restarts is reached again within about a second.

The chaos campaign saw the orchestrator's first successful call to a restarted participant up
to 4.1 s after it was SERVING (gRPC's default reconnect backoff grows while the peer is down),
so short outages cost far more than their length. The orchestrator's channels cap the backoff.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from flightsaga.v1 import seat_pb2
from sagakit.config import TlsConfig
from sagas.peers import Peers
from tests.support.dates import flight_id
from tests.support.procs import ServiceProcess, free_port


async def serving_at(addr: str) -> float:
    """When the service first answers SERVING, seen through a channel with a subchannel pool of
    its own: gRPC shares subchannels between channels of one process with the same target and
    options, and a health check on a shared one would reconnect the peers' channel for them."""
    options = (("grpc.use_local_subchannel_pool", 1),)
    async with grpc.aio.insecure_channel(addr, options=options) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            try:
                reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=0.5)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return time.monotonic()
            except grpc.aio.AioRpcError:
                pass
            await asyncio.sleep(0.01)


# Generous against scheduling noise on a loaded 2-core machine; gRPC's default backoff has
# reached 1.6^k seconds after a few seconds down.
WITHIN_S = 2.0


async def test_restarted_participant_is_reached_within_about_a_second(tmp_path: Path) -> None:
    port = free_port()
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'seat.db'}"}
    seat = ServiceProcess("seat_service", port, env, tmp_path / "seat.log")
    seat.start()
    await seat.wait_healthy()
    addr = f"127.0.0.1:{port}"
    peers = Peers({"seat": addr}, tls=TlsConfig(), token="")  # as the orchestrator's
    request = seat_pb2.GetFlightRequest(flight_id=flight_id("FS101", 1))
    try:
        await peers.seat.GetFlight(request, timeout=2)
        seat.kill9()
        # Down for 10 s with calls failing all along: the default backoff is seconds by now.
        end = time.monotonic() + 10
        while time.monotonic() < end:
            try:
                await peers.seat.GetFlight(request, timeout=0.2)
            except grpc.aio.AioRpcError as exc:
                assert exc.code() in (
                    grpc.StatusCode.UNAVAILABLE,
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                )
            await asyncio.sleep(0.05)
        seat.start()
        serving = await serving_at(addr)
        while True:
            try:
                await peers.seat.GetFlight(request, timeout=0.5)
                break
            except grpc.aio.AioRpcError:
                assert time.monotonic() - serving < 10, "never reached again"
                await asyncio.sleep(0.02)
        waited = time.monotonic() - serving
        print(f"first successful call {waited:.3f} s after SERVING")
        assert waited < WITHIN_S
    finally:
        await peers.close()
        seat.stop()
