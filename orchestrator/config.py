"""Orchestrator configuration from the environment (names per docs/configuration.md)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.engine.runner import default_owner
from sagakit import testhooks
from sagakit.auth import Tokens
from sagakit.config import (
    ConfigError,
    RetentionConfig,
    ServiceConfig,
    env_addr,
    env_choice,
    env_duration,
    env_float,
    env_int,
    env_str,
)
from sagas import registry
from sagas.registry import Registry

DEFAULT_PORT = 50050
DEFAULT_MAX_IN_FLIGHT = 64


@dataclass(frozen=True)
class OrchestratorConfig:
    service: ServiceConfig
    sagas: Registry  # SAGAS: the served sagas (sagas.registry), every version
    peer_addrs: Mapping[str, str]  # each participant of those sagas -> its address
    step_timeout: float  # seconds, per participant call
    step_max_attempts: int  # Do attempts answered with an error before compensating
    step_retry_for: float  # seconds to retry a Do while its participant is unreachable
    saga_timeout: float  # seconds for the whole forward path
    compensation_max_attempts: int  # compensations answered with an error before FAILED
    compensation_retry_for: float  # seconds to retry an unreachable compensation before FAILED
    compensation_backoff_cap: float  # longest wait between two compensation attempts
    bookings_log: Path | None  # one JSON line per finished saga; None disables
    sqlite_synchronous: str
    orchestrator_id: str  # this replica's name in the saga leases
    lease_ttl: float  # seconds a saga's lease lasts unless renewed
    lease_renew: float  # seconds between renewals
    max_driving: int = 256  # SAGA_MAX_DRIVING: sagas driven at once before claims wait
    # SAGA_MAX_IN_FLIGHT: new sagas are refused (RESOURCE_EXHAUSTED) while this many are live here
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    tokens: Tokens | None = None  # AUTH_TOKENS_FILE; None: auth off (every caller may do all)
    # SAGA_RETENTION: seconds a finished saga stays in the log after it finished (None: for
    # ever); and the sweeps, and the participants' BARRIER_RETENTION (docs/operations.md#retention).
    saga_retention: float | None = 30 * 86400.0
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    test_hooks: Path | None = None  # FLIGHTSAGA_TEST_HOOKS (sagakit.testhooks): tests only

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> OrchestratorConfig:
        env = os.environ if environ is None else environ
        service = ServiceConfig.from_env("orchestrator", DEFAULT_PORT, env)
        log_path = env_str("BOOKINGS_LOG", str(service.data_dir / "bookings.jsonl"), env)
        owner = env_str("ORCHESTRATOR_ID", default_owner(), env)
        if len(owner) > 200 or not owner.isprintable():
            raise ConfigError(
                f"ORCHESTRATOR_ID must be up to 200 printable characters, got {owner!r}"
            )
        ttl = env_float("SAGA_LEASE_TTL_S", 10.0, 0.5, env)
        renew = env_float("SAGA_LEASE_RENEW_S", ttl / 3, 0.05, env)
        if renew >= ttl:
            raise ConfigError(
                f"SAGA_LEASE_RENEW_S must be shorter than SAGA_LEASE_TTL_S ({ttl:g}), got {renew:g}"
            )
        sagas = registry.from_env(env)
        # Each participant's address, from its variable (SEAT_SERVICE_ADDR, ...).
        addrs = {p.name: env_addr(p.env_var, p.default_addr, env) for p in sagas.participants}
        return cls(
            service=service,
            sagas=sagas,
            peer_addrs=addrs,
            step_timeout=env_int("STEP_TIMEOUT_MS", 3000, 50, 600_000, env) / 1000,
            step_max_attempts=env_int("STEP_MAX_ATTEMPTS", 3, 1, 100, env),
            step_retry_for=env_float("STEP_RETRY_FOR_S", 15.0, 0.0, env),
            saga_timeout=env_float("SAGA_TIMEOUT_S", 120.0, 1.0, env),
            compensation_max_attempts=env_int("COMPENSATION_MAX_ATTEMPTS", 5, 1, 1000, env),
            compensation_retry_for=env_float("COMPENSATION_RETRY_FOR_S", 300.0, 0.0, env),
            compensation_backoff_cap=env_float("COMPENSATION_BACKOFF_CAP_S", 10.0, 0.1, env),
            bookings_log=None if log_path.lower() in ("off", "none") else Path(log_path),
            sqlite_synchronous=env_choice(
                "SQLITE_SYNCHRONOUS", ("full", "normal"), "full", env
            ).upper(),
            orchestrator_id=owner,
            lease_ttl=ttl,
            lease_renew=renew,
            max_driving=env_int("SAGA_MAX_DRIVING", 256, 1, 100_000, env),
            max_in_flight=env_int("SAGA_MAX_IN_FLIGHT", DEFAULT_MAX_IN_FLIGHT, 1, 1_000_000, env),
            tokens=Tokens.from_env(env),
            saga_retention=env_duration("SAGA_RETENTION", "30d", 60.0, env),
            retention=RetentionConfig.from_env(env),
            test_hooks=testhooks.folder_from_env(env, service.fault_injection),
        )
