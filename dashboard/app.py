"""The dashboard's HTTP app: JSON API over the gRPC services, plus the static pages.

The app is only a client of the gRPC APIs: it keeps no state of its own besides its channels.
Its routes live in dashboard/routes/, one module per page or API.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from dashboard.config import DashboardConfig
from dashboard.errors import add_handlers
from dashboard.middleware import CorrelationMiddleware
from dashboard.routes import bulk, declaration, flights, pages, saga_list, sagas, session
from dashboard.security import SecurityMiddleware
from dashboard.state import Dashboard

log = logging.getLogger("dashboard")


def create_app(config: DashboardConfig) -> FastAPI:
    """The dashboard app; its lifespan opens one gRPC channel per peer and closes them."""
    dashboard = Dashboard(config)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        dashboard.open()
        log.info(
            "dashboard ready; orchestrator at %s (ORCHESTRATOR_ADDR)", config.orchestrator.addr
        )
        try:
            yield
        finally:
            await dashboard.close()
            log.info("dashboard stopped; channels closed")

    app = FastAPI(
        title="FlightSaga dashboard",
        version="0.1.0",
        description="Web UI and JSON API over the FlightSaga gRPC services (a client only).",
        lifespan=lifespan,
        # Swagger UI and ReDoc load their assets from a CDN; the dashboard serves nothing from
        # outside, so only the schema itself is served (/openapi.json).
        docs_url=None,
        redoc_url=None,
    )
    app.state.dashboard = dashboard
    app.add_middleware(SecurityMiddleware, tokens=config.tokens)
    app.add_middleware(CorrelationMiddleware)
    add_handlers(app)
    app.include_router(pages.router)
    app.include_router(bulk.router)
    app.mount("/static", StaticFiles(directory=pages.STATIC), name="static")
    app.include_router(saga_list.router)
    app.include_router(sagas.router)
    app.include_router(flights.router)
    app.include_router(session.router)
    app.include_router(declaration.router)
    return app
