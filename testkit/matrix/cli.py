"""`flightsaga matrix`: its arguments and exit status.

Exit status: 0 every cell passed and every invariant holds, 1 a cell failed or an invariant
did not hold (each is named), 2 bad usage, 3 the matrix could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from chaos.stack import target_addrs
from launcher.errors import StartError
from sagakit.errors import InvalidArgument
from sagas.booking import STEP_ORDER, canonical_step
from sagas.services import PARTICIPANTS
from testkit.matrix import matrix, report
from testkit.matrix.columns import COLUMNS

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CANNOT_RUN = 0, 1, 2, 3


def add_arguments(p: argparse.ArgumentParser) -> None:
    _stack_arguments(p)
    _selection_arguments(p)


def _stack_arguments(p: argparse.ArgumentParser) -> None:
    """What it runs against, and where its files go and its links point."""
    p.add_argument(
        "--target",
        metavar="ORCH_ADDR",
        help="run against this orchestrator (e.g. the compose stack) instead of a local stack",
    )
    for svc in PARTICIPANTS:
        p.add_argument(
            f"--{svc.name}-addr",
            metavar="HOST:PORT",
            help=f"with --target: the {svc.name} service (default: the orchestrator's port + "
            f"{PARTICIPANTS.index(svc) + 1})",
        )
    p.add_argument(
        "--out",
        type=Path,
        help=f"folder for {report.JSON_NAME} and {report.HTML_NAME} (and a local stack's data); "
        "default: a new data/matrix-<time> folder",
    )
    p.add_argument(
        "--dashboard",
        default="http://127.0.0.1:8080",
        metavar="URL",
        help="the dashboard the page's cells link to (default http://127.0.0.1:8080)",
    )


def _selection_arguments(p: argparse.ArgumentParser) -> None:
    """Which cells run, and how."""
    p.add_argument(
        "--faults",
        default=",".join(c.name for c in COLUMNS),
        help="comma-separated columns to run (default: all: %(default)s)",
    )
    p.add_argument(
        "--steps",
        default=",".join(STEP_ORDER),
        help="comma-separated rows: step names or aliases (default: every step)",
    )
    p.add_argument("--concurrency", type=int, default=8, help="cells run at once (8)")
    p.add_argument(
        "--cell-timeout",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="longest wait for one cell's saga to stop (120)",
    )


def options(a: argparse.Namespace) -> matrix.Options:
    """Validate the arguments; ValueError names what is wrong."""
    by_name = {c.name: c for c in COLUMNS}
    wanted = [f.strip() for f in a.faults.split(",") if f.strip()]
    unknown = [f for f in wanted if f not in by_name]
    if unknown or not wanted:
        raise ValueError(f"--faults: unknown {unknown or 'empty'}; known: {', '.join(by_name)}")
    try:
        steps = {canonical_step(s.strip(), "--steps") for s in a.steps.split(",") if s.strip()}
    except InvalidArgument as exc:
        raise ValueError(str(exc)) from None
    if not steps:
        raise ValueError("--steps: name at least one step")
    if a.concurrency < 1 or a.cell_timeout <= 0:
        raise ValueError("--concurrency must be at least 1 and --cell-timeout positive")
    if not a.target and any(getattr(a, f"{s.name}_addr") for s in PARTICIPANTS):
        raise ValueError("--<service>-addr only goes with --target")
    target = None
    if a.target:
        target = target_addrs(
            a.target, {s.name: getattr(a, f"{s.name}_addr") for s in PARTICIPANTS}
        )
    out = (a.out or Path("data") / time.strftime("matrix-%Y%m%d-%H%M%S")).resolve()
    return matrix.Options(
        out_dir=out,
        dashboard=a.dashboard,
        target=target,
        steps=[s for s in STEP_ORDER if s in steps],
        columns=[c for c in COLUMNS if c.name in wanted],
        concurrency=a.concurrency,
        cell_timeout_s=a.cell_timeout,
        token=a.token,
    )


def run(a: argparse.Namespace) -> int:
    try:
        opts = options(a)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        doc = asyncio.run(matrix.run(opts))
    except (matrix.MatrixError, StartError, RuntimeError) as exc:
        print(f"error: the matrix could not run: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    json_path, html_path = report.write(doc, opts.out_dir)
    print(report.text(doc))
    print(f"report written to {json_path} and {html_path}")
    return EXIT_OK if doc["ok"] else EXIT_FAILED
