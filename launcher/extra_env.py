"""`--env KEY=VALUE`: extra environment for a local stack's services (the bench, the chaos
campaign)."""

from __future__ import annotations

import argparse


def add_env_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the local services (repeatable)",
    )


def parse_env(items: list[str]) -> dict[str, str]:
    """The --env values as a dict; ValueError naming the first one that is not KEY=VALUE."""
    env = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--env expects KEY=VALUE, got {item!r}")
        env[key] = value
    return env
