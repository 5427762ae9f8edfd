"""plain(): every message of the API as json_format writes it, key order included; a stored
time as the Timestamp FromDatetime makes."""

from __future__ import annotations

import importlib
import json
import pkgutil
from datetime import datetime
from typing import Any

import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

import flightsaga.v1
from flightsaga.v1 import orchestrator_pb2
from sagakit.plainjson import _slow, plain
from sagakit.timestamps import to_ts

# Every message module of the API, found rather than listed (a new proto is covered at once).
MODULES = tuple(
    importlib.import_module(f"flightsaga.v1.{m.name}")
    for m in pkgutil.iter_modules(flightsaga.v1.__path__)
    if m.name.endswith("_pb2")
)
TYPES = sorted(
    (d for m in MODULES for d in m.DESCRIPTOR.message_types_by_name.values()),
    key=lambda d: d.full_name,
)


def _fill(message: Message, depth: int, variant: int) -> Message:
    """Every field set (some to their defaults, some to odd values), nested messages too."""
    fields: list[Any] = list(message.DESCRIPTOR.fields)
    for i, field in enumerate(fields):
        if (i + variant) % 3 == 0:
            continue  # left unset
        values = [_value(message, field, depth, variant + k) for k in range(2)]
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            continue
        if field.is_repeated:
            target = getattr(message, field.name)
            for v in values:
                if field.message_type is not None:
                    target.add().CopyFrom(v)
                else:
                    target.append(v)
        elif field.message_type is not None:
            getattr(message, field.name).CopyFrom(values[0])
        else:
            setattr(message, field.name, values[0])
    return message


def _value(message: Message, field: FieldDescriptor, depth: int, variant: int) -> Any:
    cpp = field.cpp_type
    if cpp == FieldDescriptor.CPPTYPE_MESSAGE:
        made = _class(message, field.name)()
        well_known = made.DESCRIPTOR.full_name.startswith("google.")
        return made if depth > 2 or well_known else _fill(made, depth + 1, variant)
    if cpp == FieldDescriptor.CPPTYPE_STRING:
        return b"\x00\x01" if field.type == FieldDescriptor.TYPE_BYTES else f"v{variant}é"
    if cpp == FieldDescriptor.CPPTYPE_BOOL:
        return variant % 2 == 0
    if cpp == FieldDescriptor.CPPTYPE_ENUM:
        return (0, 1, 999)[variant % 3]  # 999: a number the enum does not name
    if cpp in (FieldDescriptor.CPPTYPE_INT64, FieldDescriptor.CPPTYPE_UINT64):
        return (0, 2**60 + 1, 45900)[variant % 3]  # 2**60 + 1 is written as a string
    if cpp in (FieldDescriptor.CPPTYPE_FLOAT, FieldDescriptor.CPPTYPE_DOUBLE):
        return 1.5
    return variant % 7


def _class(message: Message, name: str) -> Any:
    holder = message.__class__()
    field = getattr(holder, name)
    return type(field.add()) if hasattr(field, "add") else type(field)


@pytest.mark.parametrize("descriptor", TYPES, ids=lambda d: d.full_name)
@pytest.mark.parametrize("every_field", [False, True])
def test_plain_matches_json_format_for_every_message(
    descriptor: Descriptor, every_field: bool
) -> None:
    cls = next(getattr(m, descriptor.name) for m in MODULES if hasattr(m, descriptor.name))
    for variant in range(4):
        message = cls() if variant == 3 else _fill(cls(), 0, variant)
        expected = _slow(message, every_field)
        got = plain(message, every_field)
        assert json.dumps(got) == json.dumps(expected)


def test_a_struct_inside_keeps_whole_numbers_as_ints() -> None:
    saga = orchestrator_pb2.Saga(saga_id="s1")
    saga.facts.update({"seats": 2.0, "fare": 10.5, "nested": {"n": 3.0}})
    assert plain(saga)["facts"] == {"seats": 2, "fare": 10.5, "nested": {"n": 3}}


@pytest.mark.parametrize(
    "iso",
    [
        "2026-12-07T10:30:38.916379+00:00",
        "2026-12-07T10:30:38+02:00",
        "1969-12-31T23:59:59.500000+00:00",
        "2031-01-01T00:00:00",
    ],
)
def test_a_stored_time_is_the_timestamp_from_datetime_makes(iso: str) -> None:
    expected = Timestamp()
    expected.FromDatetime(datetime.fromisoformat(iso))
    assert to_ts(iso) == expected
