"""`flightsaga chaos`: the shipped chaos campaign (its arguments and run live in chaos.cli)."""

from __future__ import annotations

from chaos.cli import add_arguments, run
from cli.common import Command, Subparsers


def add_commands(sub: Subparsers) -> dict[str, Command]:
    ch = sub.add_parser(
        "chaos",
        help="kill, stop and fault the services under load, then check every invariant",
        description="A seeded, bounded chaos campaign (docs/chaos.md). Exit status: "
        "0 every invariant holds, 1 violations, 2 bad usage, 3 the campaign could not run.",
    )
    add_arguments(ch)
    return {"chaos": run}
