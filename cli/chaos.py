"""`flightsaga chaos`: the shipped chaos campaign (its arguments and run live in chaos.cli);
`flightsaga crashpoints`: the crash-point matrix (chaos.crashcli)."""

from __future__ import annotations

from chaos import crashcli
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
    cp = sub.add_parser(
        "crashpoints",
        help="kill -9 the orchestrator at every durable write of a saga, restart, check recovery",
        description="The crash-point matrix (docs/testing.md): a local stack whose orchestrator "
        "kills itself right before or after each durable write of a saga that completes and of "
        "one that compensates; after each restart, recovery must finish the saga with every "
        "invariant holding. Exit status: 0 every point recovered, 1 some did not, 2 bad usage, "
        "3 the matrix could not run.",
    )
    crashcli.add_arguments(cp)
    return {"chaos": run, "crashpoints": crashcli.run}
