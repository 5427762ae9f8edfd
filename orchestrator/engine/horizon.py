"""The call horizon: past it a saga is too old for its participants' barrier marks, so no
participant call is made for it any more."""

from __future__ import annotations

import time

from orchestrator.engine.model import SagaRecord
from sagakit.retention import cutoff


class CallHorizon:
    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self._cutoff, self._until = "", float("-inf")

    def too_old(self, saga: SagaRecord) -> str:
        """Why no participant call may be made for the saga any more, if so."""
        horizon = self.seconds
        if horizon is None:
            return ""
        # Before every participant call: the cutoff is worked out once a second (the horizon
        # is hours long and keeps a margin), not formatted per call.
        at = time.monotonic()
        if at >= self._until:
            self._cutoff, self._until = cutoff(horizon), at + 1.0
        if saga.created_at >= self._cutoff:
            return ""
        return (
            f"started at {saga.created_at}, more than {horizon / 3600:g} h ago (BARRIER_RETENTION"
            " less its margin): its participants may have deleted its barrier marks, so no call"
            " is made for it any more; settle its steps with the participants by hand"
        )
