"""Which sagas a FlightSaga stack serves: the `SAGAS` variable, read by the orchestrator (which
drives them) and the launcher (which starts their participants).

`SAGAS` is a comma-separated list of `module` or `module:ATTRIBUTE`; the attribute (default
`SAGA`) is a SagaDeclaration, or a tuple of them: every version of the saga still served.

    SAGAS=sagas.booking                       # the default: the booking saga alone
    SAGAS=sagas.booking,examples.trip         # and the trip example beside it
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass

from sagakit.config import ConfigError
from sagas.declare import Participant, SagaDeclaration

VARIABLE = "SAGAS"
DEFAULT = "sagas.booking"
ATTRIBUTE = "SAGA"


@dataclass(frozen=True)
class Registry:
    """Every declared version of every served saga, and their participants."""

    declarations: tuple[SagaDeclaration, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(d.name for d in self.declarations))

    def versions(self, name: str) -> tuple[SagaDeclaration, ...]:
        return tuple(sorted((d for d in self.declarations if d.name == name), key=_version))

    def latest(self, name: str) -> SagaDeclaration | None:
        found = self.versions(name)
        return found[-1] if found else None

    def get(self, name: str, version: int) -> SagaDeclaration | None:
        return next((d for d in self.versions(name) if d.version == version), None)

    @property
    def participants(self) -> tuple[Participant, ...]:
        """Every participant of every version, once each, in port order."""
        seen: dict[str, Participant] = {}
        for d in self.declarations:
            for step in d.steps:
                seen.setdefault(step.participant.name, step.participant)
        return tuple(sorted(seen.values(), key=lambda p: p.port_offset))


def _version(d: SagaDeclaration) -> int:
    return d.version


def _declarations(entry: str) -> tuple[SagaDeclaration, ...]:
    module_name, _, attribute = entry.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"{VARIABLE}: cannot import {module_name!r} ({exc})") from None
    value = getattr(module, attribute or ATTRIBUTE, None)
    found = value if isinstance(value, tuple) else (value,)
    if not found or not all(isinstance(d, SagaDeclaration) for d in found):
        raise ConfigError(
            f"{VARIABLE}: {entry!r} is not a saga declaration (a SagaDeclaration or a tuple "
            f"of them, in {module_name}.{attribute or ATTRIBUTE})"
        )
    return found


def _check(declarations: tuple[SagaDeclaration, ...]) -> None:
    """Each (name, version) once; each participant name and port offset to one service."""
    seen: set[tuple[str, int]] = set()
    services: dict[str, Participant] = {}
    offsets: dict[int, str] = {0: "orchestrator"}
    for d in declarations:
        if (d.name, d.version) in seen:
            raise ConfigError(f"{VARIABLE}: saga {d.name} v{d.version} is declared twice")
        seen.add((d.name, d.version))
        for p in (s.participant for s in d.steps):
            known = services.setdefault(p.name, p)
            if known.package != p.package:
                raise ConfigError(
                    f"{VARIABLE}: two participants named {p.name!r} ({known.package}, {p.package})"
                )
            holder = offsets.setdefault(p.port_offset, p.name)
            if holder != p.name:
                raise ConfigError(
                    f"{VARIABLE}: {p.name} and {holder} both take port offset {p.port_offset}"
                )


def parse(spec: str) -> Registry:
    entries = [e.strip() for e in spec.split(",") if e.strip()]
    if not entries:
        raise ConfigError(f"{VARIABLE} must name at least one saga module (default {DEFAULT})")
    declarations = tuple(d for entry in entries for d in _declarations(entry))
    _check(declarations)
    return Registry(declarations)


def from_env(environ: Mapping[str, str]) -> Registry:
    return parse(environ.get(VARIABLE, "") or DEFAULT)


__all__ = ["DEFAULT", "VARIABLE", "Registry", "from_env", "parse"]
