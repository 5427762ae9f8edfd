"""What this runner knows of its leases: until when it surely holds each, which drivers are
being stopped because theirs went elsewhere, and which ended since the last renewal."""

from __future__ import annotations

import time

from orchestrator.engine.errors import LeaseLost


class LeaseTable:
    def __init__(self) -> None:
        # saga id -> monotonic time until which this runner surely holds its lease.
        self.until: dict[str, float] = {}
        self.lost: set[str] = set()  # drivers being stopped because their lease went elsewhere
        # (saga id, lease epoch) of drivers that ended since the last renewal: their leases go.
        self.ended: list[tuple[str, int]] = []
        self.last_renew = time.monotonic()

    def check(self, saga_id: str) -> None:
        """Raise LeaseLost unless the lease surely holds: no participant call on a lease that
        may have lapsed (this process stalled, or its renewals failed)."""
        if time.monotonic() >= self.until.get(saga_id, 0.0):
            raise LeaseLost(f"saga {saga_id}: lease not renewed in time")
