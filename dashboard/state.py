"""What the dashboard's routes share: its configuration, its gRPC peers, the saga starter.

The peers and the starter are opened by the app's lifespan (on the server's event loop) and
closed at shutdown; a route gets them as a FastAPI dependency (`Ctx`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from dashboard.booking import SagaStarter
from dashboard.config import BOOKING_PEERS, DashboardConfig, Peer
from dashboard.jsonview import is_booking
from dashboard.peers import Peers
from flightsaga.v1 import orchestrator_pb2


class Dashboard:
    def __init__(self, config: DashboardConfig) -> None:
        self.config = config
        self._peers: Peers | None = None
        self._starter: SagaStarter | None = None

    def open(self) -> None:
        self._peers = Peers.open(self.config)
        self._starter = SagaStarter(self._peers)

    async def close(self) -> None:
        if self._starter is not None:
            await self._starter.close()
        if self._peers is not None:
            await self._peers.close()

    @property
    def peers(self) -> Peers:
        if self._peers is None:
            raise RuntimeError("the dashboard's channels are not open (its lifespan has not run)")
        return self._peers

    @property
    def starter(self) -> SagaStarter:
        if self._starter is None:
            raise RuntimeError("the dashboard's channels are not open (its lifespan has not run)")
        return self._starter

    async def get_saga(self, saga_id: str) -> orchestrator_pb2.Saga:
        p = self.peers
        return await p.call(
            self.config.orchestrator,
            p.orchestrator.GetSaga,
            orchestrator_pb2.GetSagaRequest(saga_id=saga_id),
        )


async def _dashboard(request: Request) -> Dashboard:
    # async: FastAPI would run a plain function in its thread pool, for every request.
    dashboard: Dashboard = request.app.state.dashboard
    return dashboard


Ctx = Annotated[Dashboard, Depends(_dashboard)]


async def saga_types(d: Dashboard) -> orchestrator_pb2.ListSagaTypesResponse:
    """The sagas the orchestrator serves (ListSagaTypes): every version, with its steps."""
    p = d.peers
    return await p.call(
        d.config.orchestrator, p.orchestrator.ListSagaTypes, orchestrator_pb2.ListSagaTypesRequest()
    )


async def participants_of(
    d: Dashboard, saga: orchestrator_pb2.Saga
) -> tuple[list[Peer], list[str]]:
    """The participants of the saga's steps the dashboard can reach, and the names of those it
    has no address for (a saga served by the orchestrator but not named by the dashboard's
    SAGAS). The booking's four for a booking; another saga's from its declaration (by its
    name and version, ListSagaTypes)."""
    if is_booking(saga):
        return [getattr(d.config, name) for name in BOOKING_PEERS], []
    found = await saga_types(d)
    kind = next(
        (t for t in found.sagas if t.name == saga.saga and t.version == saga.saga_version), None
    )
    names = dict.fromkeys(s.participant for s in kind.steps) if kind else {}
    reachable = [d.config.participants[n] for n in names if n in d.config.participants]
    return reachable, [n for n in names if n not in d.config.participants]
