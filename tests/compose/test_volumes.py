"""Data lives in the named volumes: `compose down` (without -v) then `up` keeps every record
(on the PostgreSQL stack too: the records are then in the postgres service's volume)."""

from __future__ import annotations

from flightsaga.v1 import booking_pb2, loyalty_pb2
from flightsaga.v1 import orchestrator_pb2 as pb
from tests.compose import sagas, stackctl
from tests.compose.stackctl import Clients


async def test_records_survive_compose_down_and_up(clients: Clients) -> None:
    flight = await sagas.roomiest_flight(clients)
    saga = await sagas.start(clients, sagas.book_request(flight, "volume"), wait=30)
    assert sagas.status(saga) == "COMPLETED", saga.error
    before = await sagas.records(clients, saga.saga_id)
    account = loyalty_pb2.GetAccountRequest(account_id=sagas.CUSTOMER)
    balance = (await clients.loyalty.GetAccount(account, timeout=10)).balance
    volumes = (
        await stackctl.run(
            "docker",
            "volume",
            "ls",
            "-q",
            "--filter",
            f"label=com.docker.compose.project={stackctl.PROJECT}",
        )
    ).split()
    # orchestrator + four participants + Prometheus + Alertmanager, and the PostgreSQL
    # server's on docker-compose.postgres.yml
    assert len(volumes) == (8 if stackctl.DATABASE == "postgres" else 7), volumes

    await stackctl.compose("down", timeout=240)  # not -v: the volumes stay
    assert not (await stackctl.compose("ps", "-q")).strip()
    await stackctl.compose("up", "-d", timeout=300)
    await stackctl.wait_healthy(stackctl.STACK_SERVICES, timeout=180)
    await stackctl.wait_serving(stackctl.SERVICES, timeout=60)

    # Fresh channels: the old ones may have backed off while the stack was down.
    fresh = stackctl.Clients()
    try:
        again = await fresh.orchestrator.GetSaga(
            pb.GetSagaRequest(saga_id=saga.saga_id), timeout=10
        )
        assert sagas.status(again) == "COMPLETED"
        assert again.booking_reference == saga.booking_reference
        assert await sagas.records(fresh, saga.saga_id) == before
        booking = await fresh.booking.GetBooking(
            booking_pb2.GetBookingRequest(booking_reference=saga.booking_reference), timeout=10
        )
        assert booking.status == "CONFIRMED" and booking.saga_id == saga.saga_id
        assert (await fresh.loyalty.GetAccount(account, timeout=10)).balance == balance
    finally:
        await fresh.close()
