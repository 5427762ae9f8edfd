"""Start real FlightSaga gRPC servers in-process on 127.0.0.1:0 with SQLite files in a tmp dir."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

from sagakit.config import RetentionConfig, ServiceConfig, TlsConfig
from sagakit.server import GrpcApp
from sagas import services

# The participants' packages (seat_service, loyalty_service, payment_service, booking_service).
PARTICIPANTS = tuple(p.package for p in services.PARTICIPANTS)


# A test's database for a service: `database_url(service)` (tests/conftest.py), or None for a
# SQLite file in the test's data folder.
UrlFor = Callable[[str], str] | None


def config_for(
    service: str,
    data_dir: Path,
    fault_injection: bool = True,
    urls: UrlFor = None,
    tls: TlsConfig | None = None,
    retention: RetentionConfig | None = None,
) -> ServiceConfig:
    database = service.rsplit(".", 1)[-1]  # examples.trip.hotel_service: hotel_service
    return ServiceConfig(
        service=database,
        host="127.0.0.1",
        port=0,
        database_url=urls(database) if urls else f"sqlite:///{data_dir / f'{database}.db'}",
        fault_injection=fault_injection,
        log_format="console",
        log_level="INFO",
        tls=tls or TlsConfig(),
        retention=retention or RetentionConfig(),
    )


def build_app(service: str, config: ServiceConfig, env: Mapping[str, str] | None = None) -> GrpcApp:
    """`<service>.app.build(config)` is every service's factory."""
    module = importlib.import_module(f"{service}.app")
    app: GrpcApp = module.build(config) if env is None else module.build(config, env)
    return app


@asynccontextmanager
async def running_service(
    service: str,
    data_dir: Path,
    fault_injection: bool = True,
    urls: UrlFor = None,
    tls: TlsConfig | None = None,
    retention: RetentionConfig | None = None,
) -> AsyncIterator[str]:
    """Run one service; yields its address `127.0.0.1:<port>`; stops it on exit."""
    app = build_app(service, config_for(service, data_dir, fault_injection, urls, tls, retention))
    port = await app.start("127.0.0.1", 0)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await app.stop(0)
