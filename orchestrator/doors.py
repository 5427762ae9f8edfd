"""How the orchestrator takes in and shows each saga it serves, whatever the saga.

A door per served saga name: it admits a new saga's input (the declaration's check, then
whatever the saga needs before its input is stored), says who owns a saga, compares a replay's
input with the stored one, and fills the API's Saga message with the saga's input and facts.
The generic door serves any declared saga; orchestrator.booking_saga's adds the booking's own
(flights looked up, the card tokenised, the typed `request` and facts of the Saga message).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from flightsaga.v1 import orchestrator_pb2 as pb
from orchestrator.engine.model import SagaRecord, SagaSubject
from sagakit.errors import InvalidArgument
from sagakit.plainjson import plain
from sagas.declare import SagaDeclaration

OWNER = "owner"  # an input's field naming who started the saga (sagakit.auth's caller)


class SagaDoor:
    """Any declared saga: input checked by its declaration, shown as JSON."""

    # Saga message fields the bookings log leaves out for this saga (see BookingDoor).
    log_omits: tuple[str, ...] = ()
    noun = "saga input"  # what an idempotency key reused for another input was used for

    def __init__(self, versions: tuple[SagaDeclaration, ...]) -> None:
        """`versions`: every served version of the saga, oldest first; new sagas start under
        the last unless StartSaga names one."""
        self.versions = {d.version: d for d in versions}
        self.declaration = versions[-1]

    def version(self, version: int, field: str) -> SagaDeclaration:
        """A served version (0: the latest)."""
        if version == 0:
            return self.declaration
        found = self.versions.get(version)
        if found is None:
            served = ", ".join(f"v{v}" for v in sorted(self.versions))
            raise InvalidArgument(field, f"{self.name} v{version} is not served ({served})")
        return found

    @property
    def name(self) -> str:
        return self.declaration.name

    def parse(
        self, value: Mapping[str, Any], field: str, declaration: SagaDeclaration | None = None
    ) -> Message:
        """The input message of `declaration` (default the latest version) from its JSON form
        (StartSaga's `input`)."""
        message = (declaration or self.declaration).input()
        try:
            json_format.ParseDict(dict(value), message)
        except json_format.ParseError as exc:
            raise InvalidArgument(field, f"not a {message.DESCRIPTOR.full_name}: {exc}") from None
        return message

    @property
    def input_name(self) -> str:
        return self.declaration.input.DESCRIPTOR.full_name

    async def prepare(self, message: Message, owner: str) -> Message:
        """The checked input as the saga log will keep it (its owner set when its input has
        the field), or a DomainError naming the bad field."""
        if OWNER in message.DESCRIPTOR.fields_by_name:
            setattr(message, OWNER, owner)
        return message

    def owner(self, payload: bytes) -> str | None:
        """Who started the saga; None when its input does not say (readers only)."""
        message = self.declaration.input.FromString(payload)
        if OWNER not in message.DESCRIPTOR.fields_by_name:
            return None
        return str(getattr(message, OWNER))

    def subject(self, message: Message) -> SagaSubject:
        """What the saga is about, from its prepared input's fields of these names (when it
        has them): `owner`, `customer_id`, `flight_ids` or `flight_id`."""
        fields = message.DESCRIPTOR.fields_by_name

        def text(name: str) -> str | None:
            return str(getattr(message, name)) or None if name in fields else None

        flights: tuple[str, ...] = ()
        if (legs := "flight_ids") in fields:
            flights = tuple(str(f) for f in getattr(message, legs))
        elif found := text("flight_id"):
            flights = (found,)
        owner = str(getattr(message, OWNER)) if OWNER in fields else None
        return SagaSubject(owner, text("customer_id"), flights)

    def comparable(self, payload: bytes) -> bytes:
        """A stored input as compared with a replay's (same idempotency key)."""
        return payload

    def fill(self, saga: SagaRecord, msg: pb.Saga) -> None:
        """The saga's input and facts in the API's Saga message."""
        declaration = self.versions.get(saga.definition_version, self.declaration)
        msg.input.update(plain(declaration.input.FromString(saga.payload)))
        facts = declaration.summarize(saga.results())
        if facts:
            msg.facts.update(facts)


class Doors:
    """The served sagas' doors, by name; a saga the registry no longer has is shown bare."""

    def __init__(self, doors: Mapping[str, SagaDoor]) -> None:
        self.by_name = dict(doors)

    def __getitem__(self, name: str) -> SagaDoor:
        return self.by_name[name]

    def of(self, saga: SagaRecord) -> SagaDoor | None:
        return self.by_name.get(saga.definition)

    def known(self, name: str, field: str) -> SagaDoor:
        door = self.by_name.get(name.strip())
        if door is None:
            served = ", ".join(sorted(self.by_name))
            raise InvalidArgument(field, f"unknown saga {name.strip()!r} (served: {served})")
        return door
