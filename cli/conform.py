"""`flightsaga conform ADDR --step NAME`: check a running participant against the contract the
orchestrator relies on (testkit.conformance), building its requests from the saga's
declaration (`--saga`, from the SAGAS registry or a module)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os

from cli.common import EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE, Command, Subparsers
from sagakit.config import ConfigError
from sagakit.errors import InvalidArgument
from sagas import registry
from sagas.declare import SagaDeclaration
from testkit.conformance import CLAUSES, Unreachable, conform

EXIT_FAILED = 1


def saga(name: str) -> SagaDeclaration:
    """A saga by name from the SAGAS registry (its latest version), or the saga of a module
    (`examples.trip`): so `--saga trip` works where SAGAS serves it, a module anywhere."""
    found = registry.from_env(os.environ).latest(name)
    if found is not None:
        return found
    return registry.parse(name).declarations[-1]


def run(args: argparse.Namespace) -> int:
    try:
        declaration = saga(args.saga)
        declaration.canonical_step(args.step, "--step")
    except (ConfigError, InvalidArgument) as exc:
        print(f"error: {exc}")
        return EXIT_USAGE
    if declaration.sample is None:
        print(f"error: saga {declaration.name} declares no sample to build requests from")
        return EXIT_USAGE
    unknown = set(args.clause) - {c.name for c in CLAUSES}
    if unknown:
        print(f"error: --clause: unknown {', '.join(sorted(unknown))}")
        return EXIT_USAGE
    try:
        report = asyncio.run(conform(args.addr, declaration, args.step, args.clause))
    except Unreachable as exc:
        print(f"error: {exc}")
        return EXIT_UNREACHABLE
    if args.json:
        print(json.dumps(report.as_json(), indent=2))
    else:
        print(report.text(args.verbose))
    return EXIT_OK if report.passed else EXIT_FAILED


def add_commands(sub: Subparsers) -> dict[str, Command]:
    p = sub.add_parser(
        "conform",
        help="check a participant keeps the saga contract (barrier, races, bad input)",
        description="Run every clause of the participant contract (docs/testing.md#checking-a-"
        "participant) against the participant at ADDR. Exit status: 0 every clause passed, "
        "1 a clause failed, 2 bad usage, 3 the participant does not answer.",
    )
    p.add_argument("addr", help="the participant's host:port")
    p.add_argument("--step", required=True, help="its step's name or alias, e.g. reserve_seat")
    p.add_argument(
        "--saga",
        default=registry.DEFAULT,
        help="the saga declaring the step: a name the SAGAS registry serves (book_flight, "
        "trip) or a module (examples.trip); default the booking saga",
    )
    p.add_argument(
        "--clause",
        action="append",
        default=[],
        help=f"run only this clause (repeatable): {', '.join(c.name for c in CLAUSES)}",
    )
    p.add_argument("--json", action="store_true", help="the report as JSON")
    p.add_argument("--verbose", action="store_true", help="the evidence of passed clauses too")
    return {"conform": run}
