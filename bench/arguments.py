"""`python -m bench`'s command line: what load, which code, which backends, where the results go."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.databases import parse_backends
from bench.workload import ALL_MODES, MODES, RELAY, RELAYS, check_modes
from launcher.extra_env import add_env_option, parse_env

RESULTS = Path(__file__).resolve().parent / "results"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Saga throughput and latency against the raw participant call chain.",
    )
    _add_load_args(p)
    _add_variant_args(p)
    _add_backend_args(p)
    _add_output_args(p)
    args = p.parse_args(argv)
    _check_args(p, args)
    return args


def _add_load_args(p: argparse.ArgumentParser) -> None:
    """How much load: bookings, concurrency levels, modes, warmup."""
    p.add_argument("-n", "--bookings", type=int, default=200, help="bookings per mode and level")
    p.add_argument(
        "-c",
        "--concurrency",
        default="1,8,32,64",
        help="comma-separated concurrency levels (default 1,8,32,64)",
    )
    p.add_argument(
        "--modes",
        help=f"comma-separated, from {', '.join(ALL_MODES)} (default: {','.join(MODES)}, "
        "without relay on --target; relay runs bench.relay beside the local stack: the CPU "
        "floor of an orchestrator)",
    )
    p.add_argument("--warmup", type=int, default=40, help="unmeasured bookings per mode first")


def _add_variant_args(p: argparse.ArgumentParser) -> None:
    """Which stack and code: a running target, or local rounds of variants."""
    p.add_argument(
        "--target",
        nargs="+",
        metavar="HOST:PORT",
        help="use a running stack: the orchestrator (participants on the next 4 ports), or "
        "five addresses: orchestrator seat loyalty payment booking",
    )
    p.add_argument("--repeat", type=int, default=1, help="rounds (fresh stack each); medians")
    p.add_argument(
        "--compare",
        metavar="GIT_REF",
        help="also run the services from this revision, alternating rounds with the working "
        "tree (the baseline comes first in the report)",
    )
    p.add_argument("--label", default="current", help="name of the working-tree variant")
    p.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="LABEL=REF_OR_DIR",
        help="run the services from a git revision or a source folder ('.' is the working "
        "tree); repeatable; rounds alternate between variants, the first is the baseline",
    )
    add_env_option(p)


def _add_backend_args(p: argparse.ArgumentParser) -> None:
    """The local stack's databases, orchestrator replicas and tracing."""
    p.add_argument(
        "--database",
        action="append",
        default=[],
        metavar="BACKEND",
        help="the local stack's databases: sqlite (default), postgres (a throwaway local "
        "cluster for the run) or a postgresql://user:pass@host:port/NAME server (databases "
        "NAME_b<stamp>r<round>v<i>_<service>, dropped after each round); comma-separated or "
        "repeated to measure several backends in one run, rounds alternating; the first is "
        "the baseline",
    )
    p.add_argument(
        "--replicas",
        default="1",
        help="comma-separated orchestrator replica counts on one PostgreSQL saga log, e.g. "
        "1,2,3 (the load spread over them; more than 1 needs --database postgres)",
    )
    p.add_argument(
        "--tracing",
        choices=("off", "on", "both"),
        default="off",
        help="OpenTelemetry tracing in the local services, exported over OTLP to a sink "
        "process: off (default), on, or both (each round untraced then traced, the untraced "
        "first as the baseline)",
    )


def _add_output_args(p: argparse.ArgumentParser) -> None:
    """Where results go, profiling, the seed and the progress bar."""
    p.add_argument("--out", type=Path, default=RESULTS, help="where the JSON and PNG go")
    p.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="record py-spy profiles of every service during the measured levels into DIR",
    )
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _check_args(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """The lists parsed into args (levels, replica_counts, mode_list, backends); p.error on
    values or combinations that cannot run."""
    try:
        args.levels = [int(c) for c in args.concurrency.split(",") if c.strip()]
        args.replica_counts = [int(c) for c in args.replicas.split(",") if c.strip()]
        modes = ",".join(m for m in MODES if not (args.target and m == RELAY))
        given = modes if args.modes is None else args.modes
        args.mode_list = check_modes([m.strip() for m in given.split(",") if m.strip()])
    except ValueError as exc:
        p.error(str(exc))
    if not args.levels or min(args.levels) < 1 or args.bookings < 1 or args.repeat < 1:
        p.error("bookings, repeat and every concurrency level must be at least 1")
    if args.target and (args.compare or args.variant):
        p.error("--compare / --variant start their own stacks; not with --target")
    if args.target and set(RELAYS) & set(args.mode_list):
        p.error(
            "--modes relay starts its own relay beside the local stack's participants (and "
            "measures its CPU); not with --target"
        )
    if args.target and args.database:
        p.error("--database sets up the local stack's databases; not with --target")
    try:
        args.backends = parse_backends(args.database)
    except ValueError as exc:
        p.error(str(exc))
    if not args.replica_counts or min(args.replica_counts) < 1:
        p.error("--replicas: every count must be at least 1")
    if max(args.replica_counts) > 1 and (
        args.target or any(b.kind == "sqlite" for b in args.backends)
    ):
        p.error("--replicas above 1 needs a local stack on PostgreSQL (--database postgres)")
    if args.compare and args.variant:
        p.error("use either --compare or --variant")
    if any("=" not in v for v in args.variant):
        p.error("--variant expects LABEL=REF_OR_DIR")
    try:
        args.extra_env = parse_env(args.env)
    except ValueError as exc:
        p.error(str(exc))
