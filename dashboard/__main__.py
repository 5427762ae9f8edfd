"""`python -m dashboard` / `flightsaga-dashboard`: serve the dashboard over HTTP with uvicorn."""

from __future__ import annotations

import os
import sys

import uvicorn

from dashboard.app import create_app
from dashboard.config import DashboardConfig
from sagakit.config import ConfigError
from sagakit.logs import setup_logging
from sagakit.tracing import setup_tracing


def main() -> None:
    try:
        config = DashboardConfig.from_env()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        sys.exit(2)
    setup_logging("dashboard", config.log_format, config.log_level)
    try:
        tracing = setup_tracing("dashboard", os.environ)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        sys.exit(2)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config),
            host=config.host,
            port=config.port,
            log_config=None,  # keep sagakit's handler: one format for every line
            access_log=config.log_level == "DEBUG",
            timeout_graceful_shutdown=5,
        )
    )
    server.run()
    if tracing is not None:
        tracing.shutdown()
    if not server.started:
        sys.exit(1)  # e.g. the port is taken (uvicorn logged why)


if __name__ == "__main__":
    main()
