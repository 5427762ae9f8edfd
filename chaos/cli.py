"""`flightsaga chaos`: the arguments, and the exit status.

Exit status: 0 every invariant holds, 1 at least one violation (each is named), 2 bad usage,
3 the campaign could not run (the stack did not start or restart, or is unreachable).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from chaos import campaign, plan, report
from chaos.stack import target_addrs
from launcher.errors import StartError
from launcher.extra_env import add_env_option, parse_env

EXIT_OK, EXIT_VIOLATIONS, EXIT_USAGE, EXIT_CANNOT_RUN = 0, 1, 2, 3


def add_arguments(p: argparse.ArgumentParser) -> None:
    _load_arguments(p)
    _stack_arguments(p)


def _load_arguments(p: argparse.ArgumentParser) -> None:
    """What the campaign does: its seed, load, kills and the local stack's timeouts."""
    p.add_argument("--seed", type=int, default=1, help="the schedule follows from it (default 1)")
    p.add_argument(
        "--sagas", type=int, default=600, help="bookings in all, split over phases (default 600)"
    )
    p.add_argument(
        "--duration",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="seconds of load in all instead of a count (outages add their own time)",
    )
    p.add_argument(
        "--kills",
        type=int,
        default=plan.minimum_kills(),
        help=f"kill -9s in all; extra ones kill random services (at least "
        f"{plan.minimum_kills()}: one per service, a blackout of five, two outages)",
    )
    p.add_argument("--concurrency", type=int, default=16, help="clients booking at once (16)")
    p.add_argument(
        "--step-timeout-ms", type=int, default=1000, help="local stack's STEP_TIMEOUT_MS (1000)"
    )
    p.add_argument(
        "--saga-timeout-s",
        type=float,
        default=10.0,
        help="local stack's SAGA_TIMEOUT_S (10); the long outage lasts this + 3 s",
    )


def _stack_arguments(p: argparse.ArgumentParser) -> None:
    """What it runs against (a local stack, or --target), and where its files go."""
    p.add_argument(
        "--target",
        metavar="ORCH_ADDR",
        help="run against this deployment instead of a local stack (no process is killed)",
    )
    for name in plan.PARTICIPANTS:
        p.add_argument(
            f"--{name}-addr",
            metavar="HOST:PORT",
            help=f"with --target: the {name} service (default: the orchestrator's port + "
            f"{plan.PARTICIPANTS.index(name) + 1})",
        )
    p.add_argument(
        "--code",
        type=Path,
        metavar="DIR",
        help="run the local stack's services from this source tree (an older checkout)",
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        help="local stack's databases and logs (default: a new data/chaos-<time> folder)",
    )
    p.add_argument(
        "--report",
        type=Path,
        help="JSON report path (default: DATA_DIR/chaos-report.json, or ./chaos-report.json)",
    )
    add_env_option(p)
    p.add_argument(
        "--settle",
        type=float,
        default=180.0,
        metavar="SECONDS",
        help="longest wait for quiescence at the end (180)",
    )


def options(a: argparse.Namespace) -> campaign.Options:
    """Validate the arguments; ValueError names what is wrong."""
    if a.sagas < 1 or a.concurrency < 1 or a.duration < 0:
        raise ValueError("--sagas and --concurrency must be at least 1, --duration positive")
    if a.kills < plan.minimum_kills() and a.target is None:
        raise ValueError(f"--kills must be at least {plan.minimum_kills()}")
    if a.target and (a.code or a.env):
        raise ValueError("--code and --env configure a local stack; not with --target")
    if not a.target and any(getattr(a, f"{n}_addr") for n in plan.PARTICIPANTS):
        raise ValueError("--<service>-addr only goes with --target")
    env = parse_env(a.env)
    code = a.code.resolve() if a.code else None
    if code is not None and not (code / "orchestrator" / "__main__.py").is_file():
        raise ValueError(f"--code {a.code}: not a FlightSaga source tree")
    settings = plan.Settings(
        seed=a.seed,
        sagas=a.sagas,
        duration=a.duration,
        kills=a.kills,
        step_timeout_s=a.step_timeout_ms / 1000,
        saga_timeout_s=a.saga_timeout_s,
        processes=a.target is None,
    )
    target = None
    data_dir = None
    if a.target:
        target = target_addrs(a.target, {n: getattr(a, f"{n}_addr") for n in plan.PARTICIPANTS})
        report_path = a.report or Path("chaos-report.json")
    else:
        data_dir = (a.data_dir or Path("data") / time.strftime("chaos-%Y%m%d-%H%M%S")).resolve()
        report_path = a.report or data_dir / "chaos-report.json"
    return campaign.Options(
        settings=settings,
        concurrency=a.concurrency,
        settle_s=a.settle,
        data_dir=data_dir,
        code_dir=code,
        target=target,
        env=env,
        report_path=report_path,
    )


def run(a: argparse.Namespace) -> int:
    try:
        opts = options(a)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        doc = asyncio.run(campaign.run(opts))
    except (campaign.CampaignError, StartError) as exc:
        print(f"error: the campaign could not run: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    assert opts.report_path is not None
    report.write(doc, opts.report_path)
    print(report.text(doc))
    print(f"report written to {opts.report_path}")
    return EXIT_VIOLATIONS if doc["violations"] else EXIT_OK
