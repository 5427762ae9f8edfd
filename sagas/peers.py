"""One long-lived channel and stub per FlightSaga service a process calls.

Every client of the services holds its peers here: the orchestrator's saga steps, the
dashboard, the benchmark, the chaos campaign and the tests. A channel per service given an
address, opened at once (on the caller's event loop) by sagakit.channels.open_channel, closed
by `close()`; its stub built on first use and kept.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import grpc

from flightsaga.v1 import (
    booking_pb2_grpc,
    loyalty_pb2_grpc,
    orchestrator_pb2_grpc,
    payment_pb2_grpc,
    seat_pb2_grpc,
)
from sagakit.channels import RECONNECT_OPTIONS, ChannelOptions, open_channel
from sagakit.config import TlsConfig
from sagas import services
from sagas.declare import Service

S = TypeVar("S")

SERVICES = services.NAMES  # ("orchestrator", "seat", "loyalty", "payment", "booking")


@dataclass(frozen=True)
class Addrs:
    """A whole stack's gRPC targets, one per service (in SERVICES order)."""

    orchestrator: str
    seat: str
    loyalty: str
    payment: str
    booking: str

    @classmethod
    def from_base(cls, host: str, base_port: int) -> Addrs:
        """The launcher's layout: the five services on consecutive ports from `base_port`."""
        return cls(**{s.name: s.addr(host, base_port) for s in services.SERVICES})

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


class Peers:
    """The services named in `addrs` (service name -> gRPC target; a service left out is not
    called; any declared saga's participants, sagas.declare, by their names).

    Callers differ only in what they pass: the transport (`tls`: None reads TLS_* from the
    environment), the bearer token (None: FLIGHTSAGA_TOKEN; '' none, e.g. the orchestrator,
    whom the participants know by its certificate) and the channel options (default:
    round_robin and a reconnect backoff capped at a second)."""

    def __init__(
        self,
        addrs: Mapping[str, str],
        *,
        tls: TlsConfig | None = None,
        token: str | None = None,
        options: ChannelOptions = RECONNECT_OPTIONS,
    ) -> None:
        self.channels: dict[str, grpc.aio.Channel] = {
            name: open_channel(addr, tls, token, options) for name, addr in addrs.items() if addr
        }
        self._stubs: dict[str, Any] = {}

    def channel(self, service: str) -> grpc.aio.Channel:
        """The channel to `service` (one of SERVICES); LookupError when it had no address."""
        try:
            return self.channels[service]
        except KeyError:
            raise LookupError(f"no address was given for the {service} service") from None

    def _stub(self, service: str, make: Callable[[grpc.aio.Channel], S]) -> S:
        stub = self._stubs.get(service)
        if stub is None:
            stub = self._stubs[service] = make(self.channel(service))
        return stub  # type: ignore[no-any-return]

    def stub(self, service: Service) -> Any:
        """The stub of a registered service (sagas.services), built on first use."""
        return self._stub(service.name, service.stub)

    @property
    def orchestrator(self) -> orchestrator_pb2_grpc.OrchestratorStub:
        return self.stub(services.ORCHESTRATOR)  # type: ignore[no-any-return]

    @property
    def seat(self) -> seat_pb2_grpc.SeatServiceStub:
        return self.stub(services.BY_NAME["seat"])  # type: ignore[no-any-return]

    @property
    def loyalty(self) -> loyalty_pb2_grpc.LoyaltyServiceStub:
        return self.stub(services.BY_NAME["loyalty"])  # type: ignore[no-any-return]

    @property
    def payment(self) -> payment_pb2_grpc.PaymentServiceStub:
        return self.stub(services.BY_NAME["payment"])  # type: ignore[no-any-return]

    @property
    def booking(self) -> booking_pb2_grpc.BookingServiceStub:
        return self.stub(services.BY_NAME["booking"])  # type: ignore[no-any-return]

    async def close(self) -> None:
        for channel in self.channels.values():
            await channel.close(grace=None)
