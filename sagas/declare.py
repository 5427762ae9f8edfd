"""The building blocks of a saga declaration, read like DTM's `NewSaga(..).Add(..)`.

    SagaDeclaration("book_flight", BookFlightRequest, steps=(
        Step("reserve_seat", SEAT, seat_request, ...),
        ...
    ))

A Step names its participant, builds its Do request and says how the dashboard shows it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message

from sagakit.errors import InvalidArgument

BASE_PORT = 50050  # the orchestrator's default port; the others follow it (port_offset)
DEFAULT_HOST = "127.0.0.1"

Results = Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True)
class Service:
    """A FlightSaga gRPC service as its clients and the launcher know it."""

    name: str  # "seat": its key in Addrs, Peers, launcher output
    package: str  # "seat_service": its Python package (and database name)
    port_offset: int  # its port is the base port + this (orchestrator 0, seat 1, ...)
    env_var: str  # "SEAT_SERVICE_ADDR": where its clients find its address
    label: str  # "seat service": how the dashboard names it
    stub: Callable[[Any], Any]  # the generated gRPC stub class (takes a channel)

    @property
    def default_port(self) -> int:
        return BASE_PORT + self.port_offset

    @property
    def default_addr(self) -> str:
        return f"{DEFAULT_HOST}:{self.default_port}"

    @property
    def database(self) -> str:
        """Its database's name (and SQLite file stem): the package's last part, so a service of
        an example (`examples.trip.hotel_service`) is `hotel_service`."""
        return self.package.rsplit(".", 1)[-1]

    def addr(self, host: str, base_port: int) -> str:
        """Its address in a stack laid out on consecutive ports from `base_port`."""
        return f"{host}:{base_port + self.port_offset}"


@dataclass(frozen=True)
class Participant(Service):
    """A saga participant: `Do(request) -> reply`, `Compensate(saga_id) -> reply`."""

    do_request: type[Message]
    do_reply: type[Message]
    compensate_request: Callable[..., Message]  # takes saga_id=
    compensate_reply: type[Message]


@dataclass(frozen=True)
class Step:
    """One step: its participant's Do, built by `request(saga_id, input, *earlier replies)`
    (the earlier steps' replies in saga order, typed, holding the fields they `keep`)."""

    name: str  # the wire name: saga log, fault plans, x-fail-at
    participant: Participant
    request: Callable[..., Message]
    keep: tuple[str, ...] = ()  # the fields of its reply that later steps read
    aliases: tuple[str, ...] = ()  # other names accepted for it (any case, '-' for '_')
    title: str = ""  # "Reserve Seat": `Fail at <title>`
    short: str = ""  # "Reserve seat": the step's card
    undo: str = ""  # "release the held seats": what its compensation does


@dataclass(frozen=True)
class Sample:
    """A made-up saga input and the replies its steps would give it: what conformance checks
    (testkit, `flightsaga conform`) build a step's Do request from, without running the saga."""

    input: Message
    replies: Mapping[str, Message]  # step name -> the reply that step would give


def _no_check(_: Any) -> None:
    return None


@dataclass(frozen=True)
class SagaDeclaration:
    """A saga: its steps in order over its input. `check(input)` refuses bad input before a
    saga exists (raise sagakit.errors.InvalidArgument naming the field, e.g. "input.city");
    `summarize(results)` gives the facts a finished saga reports (its reference, ...)."""

    name: str  # the saga log's saga name
    input: type[Message]  # the saga's input, as stored in the saga log
    steps: tuple[Step, ...]
    summarize: Callable[[Results], dict[str, Any]] = lambda _: {}
    version: int = 1
    check: Callable[[Any], None] = _no_check
    title: str = ""  # "Book a flight": how the dashboard and the CLI name it
    # A Sample per variant number, each variant a different request body at every step.
    sample: Callable[[int], Sample] | None = None

    @property
    def step_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.steps)

    @property
    def aliases(self) -> dict[str, str]:
        """alias -> wire name, in step order."""
        return {alias: s.name for s in self.steps for alias in s.aliases}

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)

    def sample_request(self, step: str, saga_id: str, variant: int = 0) -> Message:
        """The Do request of `step` for a sample saga (its builder fed the sample's input and
        the replies of the steps before it; an empty reply where the sample gives none)."""
        if self.sample is None:
            raise ValueError(f"saga {self.name} declares no sample")
        sample = self.sample(variant)
        before = self.steps[: self.step_names.index(step)]
        replies = (sample.replies.get(s.name) or s.participant.do_reply() for s in before)
        return self.step(step).request(saga_id, sample.input, *replies)

    def canonical_step(self, name: str, field: str) -> str:
        """A wire step name or alias (any case, '-' for '_') -> the wire name; an unknown name
        is InvalidArgument on `field`."""
        key = name.strip().lower().replace("-", "_")
        if key in self.step_names:
            return key
        aliases = self.aliases
        if key in aliases:
            return aliases[key]
        known = ", ".join(self.step_names + tuple(aliases))
        raise InvalidArgument(field, f"unknown step {name.strip()!r} (known: {known})")
