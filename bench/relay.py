"""`python -m bench.relay PORT SEAT LOYALTY PAYMENT BOOKING`: the CPU floor of an orchestrator.

A gRPC server making exactly the orchestrator's own gRPC calls for a booking and nothing else.
The benchmark's `relay` mode (bench/README.md) runs it beside the local stack and compares its
CPU per booking with the orchestrator's.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable

import grpc

from flightsaga.v1 import orchestrator_pb2 as pb
from flightsaga.v1 import orchestrator_pb2_grpc, payment_pb2
from orchestrator import booking_saga
from sagakit.config import TlsConfig
from sagakit.context import CORRELATION_HEADER
from sagakit.server import SERVER_OPTIONS, run_loop, stop_on_signals
from sagas.booking import PARTICIPANTS, STEP_ORDER, declaration
from sagas.peers import Peers

HOST = "127.0.0.1"
CALL_TIMEOUT = 10.0
USAGE = "usage: python -m bench.relay PORT SEAT LOYALTY PAYMENT BOOKING (addresses host:port)"


class Relay(orchestrator_pb2_grpc.OrchestratorServicer):
    """BookFlight as the orchestrator's gRPC calls alone; every other method UNIMPLEMENTED.

    Payment `Tokenize` (the card replaced by its token, as orchestrator.servicer._tokenized
    does), then the four participants' `Do` built by sagas.booking's request builders, in
    sequence, each with the caller's x-correlation-id. No saga log, no leases, no logging per
    call, no interceptors, no metrics: what is left of the orchestrator's CPU per booking is gRPC
    itself (serving one call, making five) on the same event loop (uvloop) and channels."""

    def __init__(self, peers: Peers) -> None:
        self.peers = peers

    async def BookFlight(
        self, request: pb.BookFlightRequest, context: grpc.aio.ServicerContext
    ) -> pb.Saga:
        try:
            return await self._book(request, context)
        except grpc.aio.AioRpcError as exc:  # a participant's error, passed on as it came
            await context.abort(exc.code(), f"relay: {exc.details()}")
            raise  # not reached: abort raises

    async def _book(
        self, request: pb.BookFlightRequest, context: grpc.aio.ServicerContext
    ) -> pb.Saga:
        md: tuple[tuple[str, str], ...] = tuple(
            (CORRELATION_HEADER, v)
            for k, v in context.invocation_metadata() or ()
            if k == CORRELATION_HEADER and isinstance(v, str)
        )
        p = self.peers
        token = await p.payment.Tokenize(
            payment_pb2.TokenizeRequest(card=request.card), timeout=CALL_TIMEOUT
        )
        req = booking_saga.tokenized(request, token)
        saga_id = uuid.uuid4().hex
        seats = await p.seat.Do(
            declaration.seat_request(saga_id, req), metadata=md, timeout=CALL_TIMEOUT
        )
        points = await p.loyalty.Do(
            declaration.points_request(saga_id, req, seats), metadata=md, timeout=CALL_TIMEOUT
        )
        charge = await p.payment.Do(
            declaration.charge_request(saga_id, req, seats, points),
            metadata=md,
            timeout=CALL_TIMEOUT,
        )
        confirmed = await p.booking.Do(
            declaration.confirm_request(saga_id, req, seats, points, charge),
            metadata=md,
            timeout=CALL_TIMEOUT,
        )
        return completed(saga_id, confirmed.booking_reference)


async def serve(port: int, seat: str, loyalty: str, payment: str, booking: str) -> None:
    # As the orchestrator builds them: one channel per participant, plaintext, no token.
    given = (seat, loyalty, payment, booking)
    peers = Peers(
        {p.name: addr for p, addr in zip(PARTICIPANTS, given, strict=True)},
        tls=TlsConfig(),
        token="",
    )
    server = grpc.aio.server(options=SERVER_OPTIONS)
    # The stubs declare every method abstract; at run time the generated base class answers
    # the ones not overridden with UNIMPLEMENTED, which is what the relay wants.
    relay = Relay(peers)  # type: ignore[abstract]
    orchestrator_pb2_grpc.add_OrchestratorServicer_to_server(relay, server)
    try:
        server.add_insecure_port(f"{HOST}:{port}")
    except RuntimeError as exc:
        raise OSError(f"relay: cannot listen on {HOST}:{port} ({exc})") from exc
    await server.start()
    stop = stop_on_signals()
    try:
        await stop.wait()
    finally:
        await server.stop(2.0)
        await peers.close()


def completed(saga_id: str, booking_reference: str) -> pb.Saga:
    """The reply a completed booking gets, shaped like the orchestrator's (both relays')."""
    return pb.Saga(
        saga_id=saga_id,
        status=pb.COMPLETED,
        steps=[
            pb.StepRecord(name=name, index=i, state=pb.SUCCEEDED)
            for i, name in enumerate(STEP_ORDER, 1)
        ],
        booking_reference=booking_reference,
        replayed=False,
    )


def command_line(
    argv: list[str] | None, usage: str, serve: Callable[[int, list[str]], None]
) -> int:
    """Either relay's command line: PORT and the four participants' addresses."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 5 or not args[0].isdigit():
        print(usage, file=sys.stderr)
        return 2
    try:
        serve(int(args[0]), args[1:])
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    return command_line(argv, USAGE, lambda port, peers: run_loop(serve(port, *peers)))


if __name__ == "__main__":
    sys.exit(main())
