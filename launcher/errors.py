"""Why a local stack did not start."""

from __future__ import annotations


class StartError(Exception):
    pass


class NotStarted(StartError):
    """Refused before anything was spawned (data folder in use, a port taken)."""
