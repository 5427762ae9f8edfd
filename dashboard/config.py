"""Dashboard configuration from the environment, validated at start (errors name the variable).

The peers are the orchestrator and the participants of every saga `SAGAS` names (as for the
orchestrator; sagas.registry), each at its address variable (SEAT_SERVICE_ADDR, ...,
HOTEL_SERVICE_ADDR, ...). The booking's four are always known: its pages and proof call them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from sagakit.auth import Tokens
from sagakit.config import env_addr, env_choice, env_float, listen_addr
from sagas import registry, services

# The booking saga's participants, fields of their own (the booking's pages and proof).
BOOKING_PEERS = ("seat", "loyalty", "payment", "booking")

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
    # Every participant of the served sagas (SAGAS), by its name ("seat", ..., "hotel").
    participants: Mapping[str, Peer] = field(default_factory=dict)

    @property
    def peers(self) -> tuple[Peer, ...]:
        """The orchestrator, then the served participants (in port order)."""
        return (self.orchestrator, *self.participants.values())

    @property
    def channels(self) -> dict[str, Peer]:
        """Every peer the dashboard opens a channel to, by service name: the served ones and
        the booking's four (its pages are always there)."""
        booking = {name: getattr(self, name) for name in BOOKING_PEERS}
        return {"orchestrator": self.orchestrator, **booking, **self.participants}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DashboardConfig:
        host, port = listen_addr(DEFAULT_PORT, environ)
        served = registry.from_env(os.environ if environ is None else environ)

        # Every service's address from its variable (sagas.services: ORCHESTRATOR_ADDR, ...,
        # and the served sagas' participants: HOTEL_SERVICE_ADDR, ...).
        peer = {
            svc.name: Peer(svc.label, env_addr(svc.env_var, svc.default_addr, environ), svc.env_var)
            for svc in (*services.SERVICES, *served.participants)
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
            participants={p.name: peer[p.name] for p in served.participants},
        )

    @classmethod
    def local(cls, sagas: str = registry.DEFAULT, **addrs: str) -> DashboardConfig:
        """Defaults for the sagas `sagas` (SAGAS) with some peer addresses overridden, by
        service name (tests): local(orchestrator="h:p"), local(SAGAS, hotel="h:p", ...)."""
        base = cls.from_env({registry.VARIABLE: sagas})
        known = base.channels
        moved: dict[str, Peer] = {}
        for key, addr in addrs.items():
            if key not in known:
                raise TypeError(f"no peer {key!r} (known: {', '.join(known)})")
            moved[key] = Peer(known[key].name, addr, known[key].env_var)
        own = {k: v for k, v in moved.items() if k in ("orchestrator", *BOOKING_PEERS)}
        return replace(
            base,
            host="127.0.0.1",
            port=0,
            participants={k: moved.get(k, v) for k, v in base.participants.items()},
            **own,  # type: ignore[arg-type]
        )
