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
        )
