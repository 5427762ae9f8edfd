"""Moved to sagas.booking.rules; kept for orchestrator/cli.py until the CLI's move to cli/."""

from sagas.booking.rules import MAX_LEGS, MAX_PASSENGERS, check

__all__ = ["MAX_LEGS", "MAX_PASSENGERS", "check"]
