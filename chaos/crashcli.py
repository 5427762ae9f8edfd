"""`flightsaga crashpoints`: the crash-point matrix's arguments, and its exit status.

Exit status: 0 every point recovered with every invariant holding, 1 at least one did not
(each is named), 2 bad usage, 3 the matrix could not run (the stack did not start).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

from chaos import crashpoints, crashreport
from chaos.cli import EXIT_CANNOT_RUN, EXIT_OK, EXIT_USAGE, EXIT_VIOLATIONS
from launcher.errors import StartError
from launcher.supervisor import stack_databases
from sagakit.config import ConfigError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--saga",
        action="append",
        choices=sorted(crashpoints.SAGAS),
        help="only this saga's points (repeatable; default: both)",
    )
    p.add_argument(
        "--database",
        metavar="URL",
        help="run the stack on this PostgreSQL server (postgresql://user:pass@host:port/NAME), "
        "each service in a database NAME_<service>, created if missing; default: SQLite files",
    )
    p.add_argument(
        "--code",
        type=Path,
        metavar="DIR",
        help="run the stack's services from this source tree (another version of FlightSaga)",
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        help="the stack's files and logs (default: a new data/crashpoints-<time> folder)",
    )
    p.add_argument(
        "--report", type=Path, help="JSON report path (default: DATA_DIR/crashpoints.json)"
    )


def options(a: argparse.Namespace) -> crashpoints.Options:
    """ConfigError names what is wrong (a --database that cannot be reached or created)."""
    from sagas import registry
    from tooling.pgdatabases import ensure_databases

    data_dir = (a.data_dir or Path("data") / time.strftime("crashpoints-%Y%m%d-%H%M%S")).resolve()
    code = a.code.resolve() if a.code else None
    if code is not None and not (code / "orchestrator" / "__main__.py").is_file():
        raise ConfigError(f"--code {a.code}: not a FlightSaga source tree")
    databases = None
    if a.database:
        databases = ensure_databases(a.database, stack_databases(registry.from_env(os.environ)))
    return crashpoints.Options(
        data_dir=data_dir,
        backend="postgresql" if databases else "sqlite",
        databases=databases,
        sagas=tuple(a.saga or crashpoints.SAGAS),
        code_dir=code,
    )


def run(a: argparse.Namespace) -> int:
    try:
        opts = options(a)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        doc = asyncio.run(crashpoints.run(opts))
    except (StartError, crashpoints.MatrixError) as exc:
        print(f"error: the matrix could not run: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    path = a.report or opts.data_dir / "crashpoints.json"
    crashreport.write(doc, path)
    print(crashreport.text(doc))
    print(f"report written to {path}")
    return EXIT_OK if doc["recovered"] == doc["crash_points"] else EXIT_VIOLATIONS
