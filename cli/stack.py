"""`flightsaga up`: every service of the system on this machine, until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from cli.common import EXIT_USAGE, Command, Subparsers
from sagakit.config import ConfigError


def add_commands(sub: Subparsers) -> dict[str, Command]:
    up = sub.add_parser("up", help="run every service locally until Ctrl-C")
    up.add_argument("--data-dir", default="data", help="folder for the SQLite files (./data)")
    ports = up.add_mutually_exclusive_group()
    ports.add_argument(
        "--base-port",
        type=int,
        default=50050,
        help="orchestrator port; +1..+4 for the participants",
    )
    ports.add_argument(
        "--free-ports",
        action="store_true",
        help="pick free ports (printed, with the commands to reach them) instead of 50050-50054"
        " and 8080: beside another stack",
    )
    up.add_argument(
        "--dashboard-port", type=int, help="(default 8080; any free one with --free-ports)"
    )
    up.add_argument("--no-dashboard", action="store_true")
    up.add_argument(
        "--log-dir", help="also write each service's log to DIR/<service>.log (DATA_DIR/logs)"
    )
    up.add_argument(
        "--database",
        metavar="URL",
        help="run every service on this PostgreSQL server (postgresql://user:pass@host:port/NAME)"
        ", each in a database NAME_<service>, created if missing; default: SQLite files",
    )
    return {"up": up_command}


def up_command(args: argparse.Namespace) -> int:
    from launcher.supervisor import Launcher, stack_databases, stack_ports
    from sagas import registry
    from tooling.pgdatabases import ensure_databases

    try:
        sagas = registry.from_env(os.environ)
        databases = (
            ensure_databases(args.database, stack_databases(sagas)) if args.database else None
        )
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    base_port, dashboard_port = args.base_port, args.dashboard_port or 8080
    if args.free_ports:
        from launcher.ports import free_base_port, free_port

        count = stack_ports(sagas)
        base_port = free_base_port(count=count)
        dashboard_port = args.dashboard_port or free_port(range(base_port, base_port + count))
        print(
            f"--free-ports: orchestrator on 127.0.0.1:{base_port}, participants on "
            f"{base_port + 1}-{base_port + count - 1}, dashboard on 127.0.0.1:{dashboard_port}",
            flush=True,
        )
    launcher = Launcher(
        Path(args.data_dir),
        base_port=base_port,
        dashboard_port=dashboard_port,
        dashboard=not args.no_dashboard,
        log_dir=Path(args.log_dir) if args.log_dir else Path(args.data_dir) / "logs",
        databases=databases,
    )
    return asyncio.run(launcher.run())
