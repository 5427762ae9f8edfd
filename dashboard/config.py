"""Dashboard configuration from the environment, validated at start (errors name the variable)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace

from sagakit.auth import Tokens
from sagakit.config import env_addr, env_choice, env_float, listen_addr
from sagas import services

DEFAULT_PORT = 8080


@dataclass(frozen=True)
class Peer:
    """A gRPC service the dashboard calls: its display name, address and the variable naming it."""

    name: str
    addr: str
    env_var: str

    def unreachable(self) -> str:
        return f"{self.name} unreachable at {self.addr} ({self.env_var})"


@dataclass(frozen=True)
class DashboardConfig:
    host: str
    port: int
    orchestrator: Peer
    seat: Peer
    loyalty: Peer
    payment: Peer
    booking: Peer
    log_format: str = "console"
    log_level: str = "INFO"
    # Deadlines (seconds). Every outbound call has one; none waits unbounded.
    rpc_timeout: float = 5.0  # unary reads: GetSaga, ListSagas, GetStats, proof records, search
    start_wait: float = 10.0  # POST /api/bookings waits at most this long for the saga id
    book_timeout: float = 300.0  # the background BookFlight call (the saga goes on without it)
    resume_timeout: float = 30.0  # ResumeSaga; past it the current record is returned (202)
    watch_timeout: float = 1800.0  # one WatchSaga stream (the browser reconnects after it)
    # AUTH_TOKENS_FILE: users sign in with a token (dashboard/security.py); None: auth off.
    tokens: Tokens | None = None
    # FLIGHTSAGA_TOKEN: the dashboard's own token, sent when the request carries none.
    token: str = ""

    @property
    def peers(self) -> tuple[Peer, ...]:
        return tuple(getattr(self, name) for name in services.NAMES)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DashboardConfig:
        host, port = listen_addr(DEFAULT_PORT, environ)

        # Every service's address from its variable (sagas.services: ORCHESTRATOR_ADDR, ...).
        peer = {
            svc.name: Peer(svc.label, env_addr(svc.env_var, svc.default_addr, environ), svc.env_var)
            for svc in services.SERVICES
        }
        return cls(
            host=host,
            port=port,
            orchestrator=peer["orchestrator"],
            seat=peer["seat"],
            loyalty=peer["loyalty"],
            payment=peer["payment"],
            booking=peer["booking"],
            log_format=env_choice("LOG_FORMAT", ("console", "json"), "console", environ),
            log_level=env_choice(
                "LOG_LEVEL", ("debug", "info", "warning", "error"), "info", environ
            ).upper(),
            rpc_timeout=env_float("DASHBOARD_RPC_TIMEOUT", 5.0, 0.1, environ),
            book_timeout=env_float("DASHBOARD_BOOK_TIMEOUT", 300.0, 1.0, environ),
            tokens=Tokens.from_env(os.environ if environ is None else environ),
            token=(os.environ if environ is None else environ).get("FLIGHTSAGA_TOKEN", "").strip(),
        )

    @classmethod
    def local(cls, **addrs: str) -> DashboardConfig:
        """Defaults with some peer addresses overridden (tests): local(orchestrator="h:p")."""
        base = cls.from_env({})
        peers: dict[str, Peer] = {}
        for key, addr in addrs.items():
            current: Peer = getattr(base, key)
            peers[key] = Peer(current.name, addr, current.env_var)
        return replace(base, host="127.0.0.1", port=0, **peers)  # type: ignore[arg-type]
