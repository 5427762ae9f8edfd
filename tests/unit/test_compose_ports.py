"""docker-compose.yml publishes on ports away from `make up`'s, the ones the compose tier uses."""

from __future__ import annotations

import re
from pathlib import Path

from tests.compose.stackctl import MONITORING_PORTS
from tests.e2e.tools import COMPOSE_DEFAULT_PORTS, DEFAULT_PORTS

COMPOSE_FILE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


def test_compose_publishes_the_ports_the_tests_use_away_from_make_up() -> None:
    published = {
        m["name"].lower(): (int(m["default"]), int(m["inner"]))
        for m in re.finditer(
            r'"127\.0\.0\.1:\$\{FLIGHTSAGA_COMPOSE_(?P<name>[A-Z_]+)_PORT:-(?P<default>\d+)\}'
            r':(?P<inner>\d+)"',
            COMPOSE_FILE.read_text(),
        )
    }
    # Prometheus, Alertmanager and the alert receiver have no `make up` counterpart: published
    # on ports of their own.
    for service, ports in MONITORING_PORTS.items():
        assert published.pop(service.replace("-", "_")) == ports, service
        assert ports[0] not in {*COMPOSE_DEFAULT_PORTS.values(), *DEFAULT_PORTS.values()}
    assert {name: host for name, (host, _) in published.items()} == COMPOSE_DEFAULT_PORTS
    assert {name: inner for name, (_, inner) in published.items()} == DEFAULT_PORTS
    assert not set(COMPOSE_DEFAULT_PORTS.values()) & set(DEFAULT_PORTS.values())
    # No other published port: every `ports:` entry is one of those above.
    assert len(re.findall(r'^\s+- "127\.0\.0\.1:', COMPOSE_FILE.read_text(), re.M)) == 9
