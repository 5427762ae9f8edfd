"""`python -m bench.sync_relay PORT SEAT LOYALTY PAYMENT BOOKING`: the relay without grpc.aio.

bench.relay's calls (serve BookFlight, payment `Tokenize`, the four `Do` in sequence) on
grpcio's synchronous server, a thread per call in flight from a pool of THREADS, and
synchronous channels. The bench's `relay-sync` mode runs it beside `relay` (not a default):
whether an orchestrator built on the other call path of grpcio would have a lower floor.
"""

from __future__ import annotations

import signal
import sys
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc

from bench.relay import CALL_TIMEOUT, HOST, USAGE, command_line, completed
from flightsaga.v1 import (
    booking_pb2_grpc,
    loyalty_pb2_grpc,
    orchestrator_pb2_grpc,
    payment_pb2,
    payment_pb2_grpc,
    seat_pb2_grpc,
)
from flightsaga.v1 import orchestrator_pb2 as pb
from orchestrator import booking_saga
from sagakit.context import CORRELATION_HEADER
from sagakit.server import SERVER_OPTIONS
from sagas.booking import declaration

THREADS = 64  # above the bench's highest default concurrency: no call waits for a thread


class SyncRelay(orchestrator_pb2_grpc.OrchestratorServicer):
    """bench.relay.Relay's BookFlight, each call on a thread of the server's pool."""

    def __init__(self, channels: list[grpc.Channel]) -> None:
        seat, loyalty, payment, booking = channels
        self.seat = seat_pb2_grpc.SeatServiceStub(seat)
        self.loyalty = loyalty_pb2_grpc.LoyaltyServiceStub(loyalty)
        self.payment = payment_pb2_grpc.PaymentServiceStub(payment)
        self.booking = booking_pb2_grpc.BookingServiceStub(booking)

    def BookFlight(self, request: pb.BookFlightRequest, context: grpc.ServicerContext) -> Any:
        try:
            return self._book(request, context)
        except grpc.RpcError as exc:  # a participant's error, passed on as it came
            context.abort(exc.code(), f"relay: {exc.details()}")  # type: ignore[attr-defined]

    def _book(self, request: pb.BookFlightRequest, context: grpc.ServicerContext) -> pb.Saga:
        md = tuple(
            (CORRELATION_HEADER, v)
            for k, v in context.invocation_metadata() or ()
            if k == CORRELATION_HEADER and isinstance(v, str)
        )
        token = self.payment.Tokenize(
            payment_pb2.TokenizeRequest(card=request.card), timeout=CALL_TIMEOUT
        )
        req = booking_saga.tokenized(request, token)
        saga_id = uuid.uuid4().hex
        seats = self.seat.Do(
            declaration.seat_request(saga_id, req), metadata=md, timeout=CALL_TIMEOUT
        )
        points = self.loyalty.Do(
            declaration.points_request(saga_id, req, seats), metadata=md, timeout=CALL_TIMEOUT
        )
        charge = self.payment.Do(
            declaration.charge_request(saga_id, req, seats, points),
            metadata=md,
            timeout=CALL_TIMEOUT,
        )
        confirmed = self.booking.Do(
            declaration.confirm_request(saga_id, req, seats, points, charge),
            metadata=md,
            timeout=CALL_TIMEOUT,
        )
        return completed(saga_id, confirmed.booking_reference)


def serve(port: int, participants: list[str]) -> None:
    channels = [grpc.insecure_channel(addr) for addr in participants]
    server = grpc.server(ThreadPoolExecutor(max_workers=THREADS), options=SERVER_OPTIONS)
    relay = SyncRelay(channels)  # type: ignore[abstract]
    orchestrator_pb2_grpc.add_OrchestratorServicer_to_server(relay, server)
    try:
        server.add_insecure_port(f"{HOST}:{port}")
    except RuntimeError as exc:
        raise OSError(f"relay: cannot listen on {HOST}:{port} ({exc})") from exc
    server.start()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.stop(2.0).wait()
    for channel in channels:
        channel.close()


def main(argv: list[str] | None = None) -> int:
    return command_line(argv, USAGE.replace("bench.relay", "bench.sync_relay"), serve)


if __name__ == "__main__":
    sys.exit(main())
