"""Commands that talk to the orchestrator: one client per run, errors mapped to exit statuses."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable

import grpc

from cli.common import (
    EXIT_BUSY,
    EXIT_NOT_CONFIRMED,
    EXIT_REFUSED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    Command,
)
from orchestrator.client import OrchestratorClient, Unreachable
from sagakit.config import ConfigError
from sagakit.errors import Reason, details_of, retry_later

RemoteCommand = Callable[[OrchestratorClient, argparse.Namespace], Awaitable[int]]

# Refusals that mean the command itself was wrong (exit 2), by ErrorInfo reason.
USAGE_REASONS = frozenset(
    {
        Reason.INVALID_ARGUMENT,
        Reason.NOT_FOUND,
        Reason.FAULT_INJECTION_DISABLED,
        Reason.SAGA_NOT_RESUMABLE,
        Reason.SAGA_NOT_CANCELLABLE,
        Reason.REJECTED,
        Reason.FLIGHT_DEPARTED,
    }
)


def on_stack(command: RemoteCommand) -> Command:
    """`command` run with a client of the orchestrator the global flags name."""

    def run(a: argparse.Namespace) -> int:
        try:
            return asyncio.run(_connected(command, a))
        except Unreachable as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_UNREACHABLE
        except grpc.aio.AioRpcError as exc:
            return refused(exc)
        except (ValueError, ConfigError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE

    return run


async def _connected(command: RemoteCommand, a: argparse.Namespace) -> int:
    async with OrchestratorClient(a.orchestrator, a.seat, a.timeout, token=a.token) as fs:
        return await command(fs, a)


def refused(exc: grpc.aio.AioRpcError) -> int:
    """Print what the stack refused and return the exit status that refusal means."""
    # What went wrong comes from the status details (ErrorInfo, BadRequest); the message
    # is printed for people.
    typed = details_of(exc)
    if exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
        print(f"error: {retry_later(typed.retry_after)}; nothing was started", file=sys.stderr)
        return EXIT_BUSY
    reason = f" {typed.reason}" if typed.reason else ""
    print(f"error: {exc.code().name}{reason}: {exc.details()}", file=sys.stderr)
    for field, problem in typed.violations[1:]:
        print(f"  {field}: {problem}", file=sys.stderr)
    if exc.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
        return EXIT_REFUSED
    bad_input = bool(typed.violations) or typed.reason in USAGE_REASONS
    if not typed.reason:  # a server without details (older): by status code
        bad_input = exc.code() in (
            grpc.StatusCode.INVALID_ARGUMENT,
            grpc.StatusCode.NOT_FOUND,
            grpc.StatusCode.FAILED_PRECONDITION,
        )
    return EXIT_USAGE if bad_input else EXIT_NOT_CONFIRMED
