"""Who may run a PostgreSQL transaction of this process now: side by side, or alone after a
conflict (see Gate)."""

from __future__ import annotations

import threading


class Gate:
    """Transactions of this process run side by side (shared), except one that has conflicted
    before: it runs alone (exclusive), so no transaction of this process can make it fail
    again. Without it, a hot row (one loyalty account under 32 concurrent bookings) can make
    the same transaction lose MAX_RETRIES times in a row. Writers first: a waiting exclusive
    run stops new shared ones from starting."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._shared = 0
        self._exclusive = False
        self._waiting = 0

    def enter(self, alone: bool) -> None:
        with self._cond:
            if not alone:
                while self._exclusive or self._waiting:
                    self._cond.wait()
                self._shared += 1
                return
            self._waiting += 1
            while self._exclusive or self._shared:
                self._cond.wait()
            self._waiting -= 1
            self._exclusive = True

    def leave(self, alone: bool) -> None:
        with self._cond:
            if alone:
                self._exclusive = False
                self._cond.notify_all()
            else:
                self._shared -= 1
                if not self._shared:
                    self._cond.notify_all()
