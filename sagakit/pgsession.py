"""How long a PostgreSQL transaction of this process may hold rows, and what enforces it.

A paused process (SIGSTOP) or a cut link would otherwise keep its transaction's row locks until
it wakes up or the TCP connection dies, which may be never: the orchestrator's claims skip
locked saga rows, so another replica could not take those sagas over. The server ends such a
session (SessionBound's settings); a watchdog here frees a thread blocked on a dead link.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import errors

log = logging.getLogger("sagakit.db")


@dataclass(frozen=True)
class SessionBound:
    """How long one of this process's transactions may hold rows, in seconds: PostgreSQL ends
    a session idle in a transaction (a paused process), or silent on the network (a cut
    link), past it; and a watchdog here drops a connection whose transaction is open a second
    longer, so a thread blocked on a link that died is freed too. The orchestrator derives it
    from SAGA_LEASE_TTL_S, so no saga row stays locked until its lease has expired."""

    hold_s: float

    def settings(self, server_version: int) -> list[tuple[str, str]]:
        """SET name = value for every session (transaction_timeout exists from PostgreSQL 17)."""
        ms = str(max(1, round(self.hold_s * 1000)))
        out = [
            ("idle_in_transaction_session_timeout", ms),
            ("tcp_user_timeout", ms),
            ("tcp_keepalives_idle", str(self.keepalive_idle)),
            ("tcp_keepalives_interval", "1"),
            ("tcp_keepalives_count", "2"),
        ]
        if server_version >= 170000:
            out.append(("transaction_timeout", ms))
        return out

    @property
    def keepalive_idle(self) -> int:
        return max(1, int(self.hold_s / 2))

    def client_params(self) -> dict[str, int]:
        """libpq's side of the same: TCP keepalives and unacknowledged-data timeout."""
        return {
            "keepalives": 1,
            "keepalives_idle": self.keepalive_idle,
            "keepalives_interval": 1,
            "keepalives_count": 2,
            "tcp_user_timeout": max(1, round(self.hold_s * 1000)),
        }


# The server ended the session for staying in a transaction too long (SessionBound).
BOUND_ENDED: tuple[type[BaseException], ...] = tuple(
    e
    for e in (
        errors.IdleInTransactionSessionTimeout,
        getattr(errors, "TransactionTimeout", None),
    )
    if e is not None
)


class Watchdog:
    """Drops (shuts the socket of) a connection whose transaction has been open longer than
    `limit` seconds; the thread waiting on it then gets an error instead of waiting on a
    link that may never answer (a peer that keeps the TCP connection but forwards nothing)."""

    def __init__(self, limit: float) -> None:
        self._limit = limit
        self._open: dict[int, tuple[float, psycopg.Connection[Any]]] = {}
        self.dropped: set[int] = set()  # connections it shut, by id()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="pg-watchdog", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def begin(self, conn: psycopg.Connection[Any], limit: float | None = None) -> None:
        """Watch `conn` from now, for `limit` seconds (default: the transactions' bound)."""
        self._open[id(conn)] = (time.monotonic() + (limit or self._limit), conn)

    def end(self, conn: psycopg.Connection[Any]) -> None:
        self._open.pop(id(conn), None)

    def _loop(self) -> None:
        while not self._stop.wait(min(0.25, self._limit / 4)):
            now = time.monotonic()
            for key, (deadline, conn) in list(self._open.items()):
                if now > deadline and self._open.pop(key, None) is not None:
                    self.dropped.add(key)
                    log.warning(
                        "a database connection was busy past its bound (%.1f s for a"
                        " transaction): dropping it (the server has ended its session)",
                        self._limit,
                    )
                    shut(conn)


def shut(conn: psycopg.Connection[Any]) -> None:
    try:
        sock = socket.socket(fileno=os.dup(conn.pgconn.socket))
    except (OSError, psycopg.Error):
        return
    with sock:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
