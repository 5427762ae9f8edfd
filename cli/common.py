"""What every command group shares: the exit statuses and the shape of a command."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeAlias

EXIT_OK, EXIT_NOT_CONFIRMED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_REFUSED = 0, 1, 2, 3, 4
EXIT_BUSY = 5

# The epilog of `flightsaga --help`.
EXIT_STATUS = """Exit status:
  0  done: `book` confirmed the booking; `resume` finished the saga (COMPLETED, or COMPENSATED:
     every step undone, nothing left for an operator); `cancel` logged the cancel (with
     --wait: the saga ended COMPENSATED); `demo`: every scenario as expected;
     `flights`, `get`, `watch`, `list`, `stats` answered (whatever the saga's state);
     `conform`: every clause passed
  1  not done: `book` did not confirm the booking (compensated or failed); `resume` left the
     saga FAILED or still running; `cancel --wait` left it FAILED; a `demo` scenario ended
     otherwise than expected; a `conform` clause failed
  2  bad usage or bad input (e.g. an unknown saga id, or a cancel of a saga that has ended)
  3  the stack is unreachable
  4  refused: no or a bad token (UNAUTHENTICATED), or a role that may not do it
     (PERMISSION_DENIED)
  5  the orchestrator is busy (RESOURCE_EXHAUSTED): nothing was started; retry later
"""

# A command takes its parsed arguments and returns the exit status.
Command: TypeAlias = Callable[[argparse.Namespace], int]
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def day(text: str) -> str:
    """A date argument: `YYYY-MM-DD` as given (the seat service checks it), or relative to
    today (UTC): `today`, `tomorrow`, `+N` (N days ahead). Flights that have departed cannot
    be booked, so examples that must keep working say `tomorrow` or `+7`."""
    word = text.strip().lower()
    if word in ("today", "tomorrow"):
        ahead = 0 if word == "today" else 1
    elif word.startswith("+") and word[1:].isdigit():
        ahead = int(word[1:])
    else:
        return text
    return (datetime.now(UTC).date() + timedelta(days=ahead)).isoformat()
