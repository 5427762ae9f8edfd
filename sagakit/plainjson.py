"""Messages as the JSON a user reads: every number a number, of one type per field.

proto3's JSON mapping writes 64-bit integers as strings ("fare_cents": "101200") and a
google.protobuf.Struct keeps every number as a double ("seats_available": 14.0), so one output
mixed strings, floats and ints for what are all whole numbers. Here 64-bit integers are JSON
numbers and whole numbers are integers (our messages have no floating-point fields, so no
value changes meaning). Used by every JSON output: the CLI's --json, the dashboard's API, the
bookings log, and the step results kept in the saga log.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

_Convert = Callable[[Any], Any]
_INT32 = {FieldDescriptor.CPPTYPE_INT32, FieldDescriptor.CPPTYPE_UINT32}
_INT64 = {FieldDescriptor.CPPTYPE_INT64, FieldDescriptor.CPPTYPE_UINT64}
_KNOWN = {
    FieldDescriptor.CPPTYPE_STRING,
    FieldDescriptor.CPPTYPE_BOOL,
    FieldDescriptor.CPPTYPE_ENUM,
    FieldDescriptor.CPPTYPE_MESSAGE,
    *_INT32,
    *_INT64,
}


class _Slow(Exception):
    """A value the fast path does not map (json_format does it)."""


def plain(message: Message, every_field: bool = False) -> dict[str, Any]:
    """`message` as a JSON-able dict (proto field names, enums by name); `every_field` also
    writes fields at their default value."""
    fast = _plain_for(message.DESCRIPTOR, every_field)
    if fast is not None:
        try:
            return fast.convert(message)
        except _Slow:
            pass
    return _slow(message, every_field)


def _slow(message: Message, every_field: bool) -> dict[str, Any]:
    out: dict[str, Any] = json_format.MessageToDict(
        message,
        preserving_proto_field_name=True,
        always_print_fields_with_no_presence=every_field,
        unquote_int64_if_possible=True,
    )
    whole: dict[str, Any] = ints_for_whole_floats(out)
    return whole


class _Plain:
    """_slow() for one message type, with the per-field decisions taken once: the same keys,
    in the same order (the set fields by number, then the unset ones without presence, in
    declaration order), and the same values. A well-known type as a field's value goes to
    _slow(); a type with fields this does not map (floats, bytes, maps, extensions, enums
    with JSON names) goes to _slow() whole."""

    def __init__(self, descriptor: Descriptor, every_field: bool) -> None:
        self.fields: dict[str, _Convert] = {}
        self.defaults: list[tuple[str, Any]] = []
        for field in descriptor.fields:
            convert = _converter(field, every_field)
            self.fields[field.name] = _each(convert) if field.is_repeated else convert
            if every_field and not field.has_presence:
                default = None if field.is_repeated else convert(field.default_value)
                self.defaults.append((field.name, default))

    def convert(self, message: Message) -> dict[str, Any]:
        fields = self.fields
        js = {f.name: fields[f.name](v) for f, v in message.ListFields()}
        for name, default in self.defaults:
            if name not in js:
                js[name] = [] if default is None else default
        return js


@lru_cache(maxsize=512)
def _plain_for(descriptor: Descriptor, every_field: bool) -> _Plain | None:
    if _special(descriptor) or not _mappable(descriptor, set()):
        return None
    try:
        return _Plain(descriptor, every_field)
    except _Slow:  # a default that is not one of its enum's names
        return None


def _mappable(descriptor: Descriptor, seen: set[str]) -> bool:
    """Whether _Plain maps this regular type, and every regular type under it."""
    if descriptor.full_name in seen:
        return True
    seen.add(descriptor.full_name)
    for field in descriptor.fields:
        if field.is_extension or field.cpp_type not in _KNOWN:
            return False
        if field.type == FieldDescriptor.TYPE_BYTES:
            return False
        sub = field.message_type
        if sub is not None and sub.GetOptions().map_entry:
            return False
        if sub is not None and not _special(sub) and not _mappable(sub, seen):
            return False
        if field.enum_type is not None and not _plain_enum(field):
            return False
    return True


def _special(descriptor: Descriptor) -> bool:
    """A type json_format writes its own way (well-known types, wrappers)."""
    return bool(descriptor.full_name.startswith("google.protobuf."))


def _plain_enum(field: FieldDescriptor) -> bool:
    enum = field.enum_type
    assert enum is not None
    return enum.full_name != "google.protobuf.NullValue" and not any(
        v.GetOptions().ListFields() for v in enum.values
    )


def _converter(field: FieldDescriptor, every_field: bool) -> _Convert:
    cpp = field.cpp_type
    if cpp == FieldDescriptor.CPPTYPE_STRING:
        return str
    if cpp == FieldDescriptor.CPPTYPE_BOOL:
        return bool
    if cpp in _INT32:
        return _same
    if cpp in _INT64:
        return _int64
    if cpp == FieldDescriptor.CPPTYPE_ENUM:
        assert field.enum_type is not None
        return _enum({v.number: v.name for v in field.enum_type.values})
    sub = field.message_type
    assert sub is not None
    if _special(sub):
        return lambda m: _slow(m, every_field)
    return lambda m: _nested(sub, every_field).convert(m)


def _each(convert: _Convert) -> _Convert:
    return lambda values: [convert(v) for v in values]


def _enum(names: dict[int, str]) -> _Convert:
    def name(value: int) -> str:
        found = names.get(value)
        if found is None:
            raise _Slow  # a number the type does not name: json_format's rules
        return found

    return name


def _nested(descriptor: Descriptor, every_field: bool) -> _Plain:
    found = _plain_for(descriptor, every_field)
    if found is None:
        raise _Slow
    return found


def _same(value: Any) -> Any:
    return value


def _int64(value: int) -> Any:
    return value if float(value) == value else str(value)


def ints_for_whole_floats(value: Any) -> Any:
    """Whole-number floats (a Struct's doubles) as ints, through dicts and lists."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: ints_for_whole_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [ints_for_whole_floats(v) for v in value]
    return value
