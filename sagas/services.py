"""Every FlightSaga gRPC service, in one registry: the orchestrator and the booking saga's
participants. The launcher, sagas.peers (Addrs, Peers), the dashboard, chaos, bench and the
test helpers read names, ports, address variables and packages from here."""

from __future__ import annotations

from flightsaga.v1 import orchestrator_pb2_grpc
from sagas.booking.declaration import PARTICIPANTS
from sagas.declare import Participant, Service

ORCHESTRATOR = Service(
    "orchestrator", "orchestrator", 0, "ORCHESTRATOR_ADDR", "orchestrator",
    orchestrator_pb2_grpc.OrchestratorStub,
)  # fmt: skip

# In port order: the orchestrator on the base port, then the participants.
SERVICES: tuple[Service, ...] = (ORCHESTRATOR, *PARTICIPANTS)
NAMES = tuple(s.name for s in SERVICES)
BY_NAME = {s.name: s for s in SERVICES}
# Every gRPC service's Python package (each has its own database).
PACKAGES = tuple(s.package for s in SERVICES)

__all__ = [
    "BY_NAME",
    "NAMES",
    "ORCHESTRATOR",
    "PACKAGES",
    "PARTICIPANTS",
    "SERVICES",
    "Participant",
]
