"""The compose stack as deployed: every container healthy, non-root, reachable on 127.0.0.1 only,
gRPC reflection for the real grpcurl, and a booking that completes and one that compensates."""

from __future__ import annotations

import json

from flightsaga.v1 import orchestrator_pb2 as pb
from tests.compose import sagas, stackctl
from tests.compose.stackctl import Clients
from tests.e2e.tools import grpcurl_transport


async def test_every_container_is_healthy_and_runs_as_non_root(clients: Clients) -> None:
    await stackctl.wait_healthy(stackctl.SERVICES, timeout=60)
    for service in stackctl.SERVICES:
        cid = await stackctl.container_id(service)
        uid = (await stackctl.run("docker", "exec", cid, "id", "-u")).strip()
        assert uid != "0", f"{service} runs as root"


async def test_ports_are_published_on_loopback_only(clients: Clients) -> None:
    for service in stackctl.SERVICES:
        cid = await stackctl.container_id(service)
        ports = json.loads(
            await stackctl.run("docker", "inspect", "-f", "{{json .NetworkSettings.Ports}}", cid)
        )
        bindings = [b for binds in ports.values() if binds for b in binds]
        assert bindings, f"{service} publishes no port"
        assert {b["HostIp"] for b in bindings} == {"127.0.0.1"}, f"{service}: {bindings}"


async def test_real_grpcurl_lists_every_service_through_reflection(clients: Clients) -> None:
    grpcurl = stackctl.grpcurl_path()
    expected = {
        "orchestrator": "flightsaga.v1.Orchestrator",
        "seat": "flightsaga.v1.SeatService",
        "loyalty": "flightsaga.v1.LoyaltyService",
        "payment": "flightsaga.v1.PaymentService",
        "booking": "flightsaga.v1.BookingService",
    }
    for service, addr in stackctl.GRPC_ADDRS.items():
        listed = (await stackctl.run(grpcurl, *grpcurl_transport(), addr, "list")).split()
        assert expected[service] in listed, f"{addr}: {listed}"
        assert "grpc.health.v1.Health" in listed, f"{addr}: {listed}"
    reply = await stackctl.run(
        grpcurl,
        *grpcurl_transport(),
        stackctl.GRPC_ADDRS["orchestrator"],
        "grpc.health.v1.Health/Check",
    )
    assert json.loads(reply)["status"] == "SERVING"
    stats = json.loads(
        await stackctl.run(
            grpcurl,
            *grpcurl_transport(),
            stackctl.GRPC_ADDRS["orchestrator"],
            "flightsaga.v1.Orchestrator/GetStats",
        )
    )
    assert isinstance(stats, dict)


async def test_booking_completes_and_fault_injection_compensates(clients: Clients) -> None:
    flight = await sagas.roomiest_flight(clients)
    ok = await sagas.start(clients, sagas.book_request(flight, "smoke-ok"), wait=30)
    assert sagas.status(ok) == "COMPLETED", ok.error
    await sagas.assert_records_agree(clients, ok)
    # FAULT_INJECTION=enabled in docker-compose.yml: x-fault is honoured, not refused.
    failed = await sagas.start(
        clients, sagas.book_request(flight, "smoke-fail"), fault="payment:fail", wait=30
    )
    assert sagas.status(failed) == "COMPENSATED", failed.error
    assert list(failed.compensation_order) == ["deduct_loyalty_points", "reserve_seat"]
    rec = await sagas.assert_records_agree(clients, failed)
    assert rec.seats_released == 1 and rec.charges == 0


async def test_dashboard_answers_through_its_published_port(clients: Clients) -> None:
    assert stackctl.probe("dashboard", timeout=5)
    stats = await clients.orchestrator.GetStats(pb.GetStatsRequest(), timeout=10)
    assert stats.total >= 0
