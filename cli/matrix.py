"""`flightsaga matrix`: every fault kind against every step (arguments and run live in
testkit.matrix.cli)."""

from __future__ import annotations

from cli.common import Command, Subparsers
from testkit.matrix.cli import add_arguments, run


def add_commands(sub: Subparsers) -> dict[str, Command]:
    mx = sub.add_parser(
        "matrix",
        help="run every fault kind against every step and check the end states (a report)",
        description="The scenario matrix (docs/testing.md#the-scenario-matrix). Exit status: "
        "0 every cell passed, 1 a cell failed or an invariant broke, 2 bad usage, "
        "3 the matrix could not run.",
    )
    add_arguments(mx)
    return {"matrix": run}
