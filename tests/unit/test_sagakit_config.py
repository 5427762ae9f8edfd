"""Service configuration from the environment: bad values fail fast, naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from sagakit.config import ConfigError, ServiceConfig


def test_defaults() -> None:
    c = ServiceConfig.from_env("seat_service", 50051, environ={})
    assert (c.host, c.port, c.database_url) == ("0.0.0.0", 50051, "sqlite:///data/seat_service.db")
    assert c.data_dir == Path("data")
    assert not c.fault_injection and c.log_format == "console" and c.log_level == "INFO"


def test_overrides() -> None:
    c = ServiceConfig.from_env(
        "seat_service",
        50051,
        environ={
            "LISTEN_ADDR": "127.0.0.1:6000",
            "PORT": "7000",
            "DATABASE_URL": "sqlite:////tmp/x/seat.db",
            "FAULT_INJECTION": "ENABLED",
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "debug",
        },
    )
    assert (c.host, c.port, c.database_url) == ("127.0.0.1", 6000, "sqlite:////tmp/x/seat.db")
    assert c.fault_injection and c.log_format == "json" and c.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"PORT": "abc"}, "PORT"),
        ({"PORT": "70000"}, "PORT"),
        ({"LISTEN_ADDR": "nowhere"}, "LISTEN_ADDR"),
        ({"LISTEN_ADDR": "host:99999"}, "LISTEN_ADDR"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"DATABASE_URL": "sqlite:///"}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgresql://"}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgresql://u:p@db:5432"}, "DATABASE_URL"),
        ({"FAULT_INJECTION": "maybe"}, "FAULT_INJECTION"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL"),
    ],
)
def test_errors_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as info:
        ServiceConfig.from_env("seat_service", 50051, environ=env)
    assert str(info.value).startswith(variable)


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_postgresql_urls_are_accepted(scheme: str) -> None:
    url = f"{scheme}://flightsaga:secret@db:5432/seat"
    c = ServiceConfig.from_env("seat_service", 50051, environ={"DATABASE_URL": url})
    assert c.database_url == url
    assert c.data_dir == Path("data")  # files beside the database: the local data folder


def test_retention_defaults_and_durations() -> None:
    r = ServiceConfig.from_env("seat_service", 50051, environ={}).retention
    assert (r.barrier, r.batch, r.pause, r.every) == (30 * 86400, 500, 0.1, 600)
    assert r.horizon == 30 * 86400 - 3600  # calls stop an hour before marks may go
    env = {"BARRIER_RETENTION": "12h", "RETENTION_BATCH": "50", "RETENTION_PAUSE_MS": "0"}
    r = ServiceConfig.from_env("seat_service", 50051, environ=env).retention
    assert (r.barrier, r.batch, r.pause) == (12 * 3600, 50, 0.0)
    off = ServiceConfig.from_env("seat_service", 50051, environ={"BARRIER_RETENTION": "OFF"})
    assert off.retention.barrier is None and off.retention.horizon is None


@pytest.mark.parametrize(
    ("value", "why"),
    [("30", "a duration like"), ("30x", "a duration like"), ("d", "a duration like"),
     ("90m", "at least 7200"), ("-1d", "at least"), ("infd", "at least")],
)  # fmt: skip
def test_retention_errors_name_the_variable(value: str, why: str) -> None:
    with pytest.raises(ConfigError, match=f"BARRIER_RETENTION must be {why}"):
        ServiceConfig.from_env("seat_service", 50051, environ={"BARRIER_RETENTION": value})


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"SAGA_RETENTION": "5s"}, "SAGA_RETENTION"),
        ({"SAGA_RETENTION": "week"}, "SAGA_RETENTION"),
        ({"RETENTION_BATCH": "0"}, "RETENTION_BATCH"),
        ({"RETENTION_EVERY_S": "x"}, "RETENTION_EVERY_S"),
    ],
)
def test_orchestrator_retention_errors_name_the_variable(
    env: dict[str, str], variable: str
) -> None:
    from orchestrator.config import OrchestratorConfig

    with pytest.raises(ConfigError, match=variable):
        OrchestratorConfig.from_env(env)
    assert OrchestratorConfig.from_env({}).saga_retention == 30 * 86400
    assert OrchestratorConfig.from_env({"SAGA_RETENTION": "off"}).saga_retention is None


@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_max_driving_errors_name_the_variable(value: str) -> None:
    from orchestrator.config import OrchestratorConfig

    with pytest.raises(ConfigError, match="SAGA_MAX_DRIVING"):
        OrchestratorConfig.from_env({"SAGA_MAX_DRIVING": value})
    assert OrchestratorConfig.from_env({}).max_driving == 256
    assert OrchestratorConfig.from_env({"SAGA_MAX_DRIVING": "40"}).max_driving == 40
