"""What the dashboard's routes share: its configuration, its gRPC peers, the booking starter.

The peers and the starter are opened by the app's lifespan (on the server's event loop) and
closed at shutdown; a route gets them as a FastAPI dependency (`Ctx`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from dashboard.booking import BookingStarter
from dashboard.config import DashboardConfig
from dashboard.peers import Peers
from flightsaga.v1 import orchestrator_pb2


class Dashboard:
    def __init__(self, config: DashboardConfig) -> None:
        self.config = config
        self._peers: Peers | None = None
        self._starter: BookingStarter | None = None

    def open(self) -> None:
        self._peers = Peers.open(self.config)
        self._starter = BookingStarter(self._peers)

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
    def starter(self) -> BookingStarter:
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
