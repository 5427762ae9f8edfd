"""`flightsaga`: book flights and break them on purpose, from the terminal.

The parser is built from one module per command group, each of which also returns its
commands' handlers: `main` parses, looks the command up, and exits with what it returns.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from cli import booking, chaos, conform, demo, matrix, sagas, security, stack
from cli.common import EXIT_STATUS, Command, Subparsers

DESCRIPTION = "`flightsaga`: book flights and break them on purpose, from the terminal."

# In the order `flightsaga --help` lists them.
GROUPS: tuple[Callable[[Subparsers], dict[str, Command]], ...] = (
    stack.add_commands,
    booking.add_commands,
    sagas.add_commands,
    demo.add_commands,
    chaos.add_commands,
    matrix.add_commands,
    conform.add_commands,
    security.add_commands,
)


def parser() -> tuple[argparse.ArgumentParser, dict[str, Command]]:
    """The argument parser, and the dispatch table: command name -> handler."""
    p = argparse.ArgumentParser(
        prog="flightsaga",
        description=DESCRIPTION,
        epilog=EXIT_STATUS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--orchestrator", help="address host:port (default: $ORCHESTRATOR_ADDR or 127.0.0.1:50050)"
    )
    p.add_argument("--seat", help="seat service host:port for flight search ($SEAT_SERVICE_ADDR)")
    p.add_argument("--timeout", type=float, default=60.0, help="deadline per call in seconds")
    p.add_argument(
        "--token",
        help="API token sent as 'authorization: Bearer' (default: $FLIGHTSAGA_TOKEN); needed "
        "when the orchestrator runs with AUTH_TOKENS_FILE",
    )
    sub = p.add_subparsers(dest="command", required=True)
    commands: dict[str, Command] = {}
    for add_commands in GROUPS:
        commands.update(add_commands(sub))
    return p, commands


def main(argv: Sequence[str] | None = None) -> None:
    p, commands = parser()
    args = p.parse_args(argv)
    sys.exit(commands[args.command](args))
