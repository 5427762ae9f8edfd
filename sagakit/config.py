"""Configuration from environment variables, validated at start.

Every failure raises ConfigError naming the variable, so a bad deployment fails fast and says why.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


class ConfigError(Exception):
    """A missing or malformed environment variable."""


def _env(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def env_str(name: str, default: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    value = _env(environ).get(name, "").strip()
    if value:
        return value
    if default is None:
        raise ConfigError(f"{name} is required but not set")
    return default


def env_int(
    name: str,
    default: int,
    lo: int | None = None,
    hi: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    raw = _env(environ).get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ConfigError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def env_float(
    name: str, default: float, lo: float = 0.0, environ: Mapping[str, str] | None = None
) -> float:
    raw = _env(environ).get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {raw!r}")
    if value < lo:
        raise ConfigError(f"{name} must be >= {lo}, got {value}")
    return value


def env_choice(
    name: str, choices: tuple[str, ...], default: str, environ: Mapping[str, str] | None = None
) -> str:
    value = _env(environ).get(name, "").strip().lower() or default
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def env_duration(
    name: str, default: str, lo: float, environ: Mapping[str, str] | None = None
) -> float | None:
    """A duration with its unit (`30d`, `12h`, `90m`, `45s`) in seconds, at least `lo`; or
    `off` (None). A bare number is refused: 30 seconds and 30 days are both plausible."""
    raw = (_env(environ).get(name, "").strip() or default).lower()
    if raw == "off":
        return None
    try:
        value = float(raw[:-1]) * _UNITS[raw[-1]]
    except (KeyError, ValueError, IndexError):
        raise ConfigError(
            f"{name} must be a duration like 30d, 12h, 90m or 45s, or off; got {raw!r}"
        ) from None
    if not math.isfinite(value) or value < lo:
        raise ConfigError(f"{name} must be at least {lo:g} s, got {raw!r}")
    return value


def env_addr(name: str, default: str, environ: Mapping[str, str] | None = None) -> str:
    """A peer address: `host:port` or any gRPC target ending in one (`dns:///seat:50051`)."""
    value = env_str(name, default, environ)
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{name} must be host:port, got {value!r}")
    return value


def listen_addr(default_port: int, environ: Mapping[str, str] | None = None) -> tuple[str, int]:
    """LISTEN_ADDR (host:port) wins over PORT; the default host is all interfaces."""
    env = _env(environ)
    if env.get("LISTEN_ADDR", "").strip():
        host, _, port = env_addr("LISTEN_ADDR", "", env).rpartition(":")
        return host, int(port)
    return "0.0.0.0", env_int("PORT", default_port, 0, 65535, env)


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def sqlite_file(url: str, var: str = "DATABASE_URL") -> Path:
    """`sqlite:///relative.db` or `sqlite:////absolute.db` -> a path."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise ConfigError(
            f"{var} must look like sqlite:///path/to/file.db or "
            f"postgresql://user:password@host:port/database, got {url!r}"
        )
    return Path(url[len(prefix) :])


def database_url(url: str, var: str = "DATABASE_URL") -> str:
    """A valid DATABASE_URL (SQLite file or PostgreSQL server), or a ConfigError naming `var`."""
    if is_postgres(url):
        rest = url.split("://", 1)[1]
        if not rest.rpartition("@")[2].split("/", 1)[0] or "/" not in rest:
            raise ConfigError(f"{var} must look like postgresql://user:password@host:port/database")
        return url
    sqlite_file(url, var)
    return url


# TLS (docs/security.md#transport). Files are read once at start: rotating a certificate means
# a restart.
#   TLS_CERT_FILE, TLS_KEY_FILE  PEM certificate chain and key: a server serves them, a client
#                                presents them (mTLS)
#   TLS_CA_FILE                  PEM CA bundle verifying the peer; on a server it also requires
#                                a client certificate signed by it (mTLS)
#   ALLOW_PLAINTEXT=1            a server may listen off loopback without TLS (logged warning)


def _pem(var: str, path: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{var}: cannot read {path!r} ({exc.strerror or exc})") from None
    if b"-----BEGIN " not in data:
        raise ConfigError(f"{var}: {path!r} is not a PEM file")
    return data


CERT_VAR, KEY_VAR, CA_VAR, PLAINTEXT_VAR = (
    "TLS_CERT_FILE",
    "TLS_KEY_FILE",
    "TLS_CA_FILE",
    "ALLOW_PLAINTEXT",
)


@dataclass(frozen=True)
class TlsConfig:
    """What the TLS_* variables name, read and checked. Empty fields: not configured."""

    cert_chain: bytes = b""
    private_key: bytes = b""
    root_ca: bytes = b""
    allow_plaintext: bool = False
    # Under mTLS a participant runs Do/Compensate only for a client certificate with this name
    # (common name or SAN): ORCHESTRATOR_IDENTITY, default "orchestrator".
    orchestrator_identity: str = "orchestrator"

    @property
    def server_tls(self) -> bool:
        """A server speaks TLS iff it has a certificate and key."""
        return bool(self.cert_chain)

    @property
    def client_tls(self) -> bool:
        """A client speaks TLS iff it has a CA or a certificate of its own (without a CA it
        verifies the server against the system's roots)."""
        return bool(self.root_ca or self.cert_chain)

    @property
    def mutual(self) -> bool:
        """A server with a CA requires client certificates (mTLS)."""
        return self.server_tls and bool(self.root_ca)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TlsConfig:
        env = os.environ if environ is None else environ
        cert, key, ca = (env.get(v, "").strip() for v in (CERT_VAR, KEY_VAR, CA_VAR))
        if bool(cert) != bool(key):
            missing = KEY_VAR if cert else CERT_VAR
            raise ConfigError(f"{missing} is required when {CERT_VAR} / {KEY_VAR} is set")
        plain = env.get(PLAINTEXT_VAR, "").strip().lower()
        if plain not in ("", "0", "1", "true", "false"):
            raise ConfigError(f"{PLAINTEXT_VAR} must be 1 or 0, got {plain!r}")
        return cls(
            cert_chain=_pem(CERT_VAR, cert) if cert else b"",
            private_key=_pem(KEY_VAR, key) if key else b"",
            root_ca=_pem(CA_VAR, ca) if ca else b"",
            allow_plaintext=plain in ("1", "true"),
            orchestrator_identity=env_str("ORCHESTRATOR_IDENTITY", "orchestrator", env),
        )


# The orchestrator stops calling a saga's participants this long before their barriers may
# forget it (docs/operations.md#retention): covers a call in flight (its deadline) and clock skew.
BARRIER_MARGIN_S = 3600.0


@dataclass(frozen=True)
class RetentionConfig:
    """Old rows deleted in the background (sagakit/retention.py), in small batches.

    BARRIER_RETENTION is read by every service: a participant deletes barrier marks older
    than it; the orchestrator makes no participant call for a saga started more than
    BARRIER_RETENTION - BARRIER_MARGIN_S ago (it stops the saga FAILED, with the reason), so
    no call ever arrives for a saga whose marks may be gone. Set it alike everywhere."""

    barrier: float | None = 30 * 86400.0  # seconds; None: marks are kept for ever
    batch: int = 500  # rows (participants) or sagas (orchestrator) per transaction
    pause: float = 0.1  # seconds between two batches of a sweep: other work goes first
    every: float = 600.0  # seconds between sweeps (the first runs at start)

    @property
    def horizon(self) -> float | None:
        """How old a saga may be and still get participant calls (None: any age)."""
        return None if self.barrier is None else self.barrier - BARRIER_MARGIN_S

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RetentionConfig:
        env = _env(environ)
        return cls(
            barrier=env_duration("BARRIER_RETENTION", "30d", 2 * BARRIER_MARGIN_S, env),
            batch=env_int("RETENTION_BATCH", 500, 1, 5000, env),
            pause=env_int("RETENTION_PAUSE_MS", 100, 0, 60_000, env) / 1000,
            every=env_float("RETENTION_EVERY_S", 600.0, 0.05, env),
        )


@dataclass(frozen=True)
class ServiceConfig:
    """What every service reads: where to listen, its database, faults and logging."""

    service: str
    host: str
    port: int
    database_url: str  # sqlite:///file or postgresql://…
    fault_injection: bool
    log_format: str
    log_level: str
    metrics_port: int | None = None
    tls: TlsConfig = TlsConfig()  # TLS_* / ALLOW_PLAINTEXT; the default: plaintext
    retention: RetentionConfig = RetentionConfig()  # BARRIER_RETENTION, RETENTION_*

    @property
    def data_dir(self) -> Path:
        """Where the service keeps files beside its database (the SQLite file's folder)."""
        if is_postgres(self.database_url):
            return Path("data")
        return sqlite_file(self.database_url).parent

    @classmethod
    def from_env(
        cls, service: str, default_port: int, environ: Mapping[str, str] | None = None
    ) -> ServiceConfig:
        env = _env(environ)
        host, port = listen_addr(default_port, env)
        url = env_str("DATABASE_URL", f"sqlite:///data/{service}.db", env)
        return cls(
            service=service,
            host=host,
            port=port,
            database_url=database_url(url),
            fault_injection=env_choice("FAULT_INJECTION", ("enabled", "disabled"), "disabled", env)
            == "enabled",
            log_format=env_choice("LOG_FORMAT", ("console", "json"), "console", env),
            log_level=env_choice(
                "LOG_LEVEL", ("debug", "info", "warning", "error"), "info", env
            ).upper(),
            metrics_port=env_int("METRICS_PORT", -1, 0, 65535, env)
            if env.get("METRICS_PORT", "").strip()
            else None,
            tls=TlsConfig.from_env(env),
            retention=RetentionConfig.from_env(env),
        )
