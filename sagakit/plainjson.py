"""Messages as the JSON a user reads: every number a number, of one type per field.

proto3's JSON mapping writes 64-bit integers as strings ("fare_cents": "101200") and a
google.protobuf.Struct keeps every number as a double ("seats_available": 14.0), so one output
mixed strings, floats and ints for what are all whole numbers. Here 64-bit integers are JSON
numbers and whole numbers are integers (our messages have no floating-point fields, so no
value changes meaning). Used by every JSON output: the CLI's --json, the dashboard's API, the
bookings log, and the step results kept in the saga log.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message


def plain(message: Message, every_field: bool = False) -> dict[str, Any]:
    """`message` as a JSON-able dict (proto field names, enums by name); `every_field` also
    writes fields at their default value."""
    out: dict[str, Any] = json_format.MessageToDict(
        message,
        preserving_proto_field_name=True,
        always_print_fields_with_no_presence=every_field,
        unquote_int64_if_possible=True,
    )
    whole: dict[str, Any] = ints_for_whole_floats(out)
    return whole


def ints_for_whole_floats(value: Any) -> Any:
    """Whole-number floats (a Struct's doubles) as ints, through dicts and lists."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: ints_for_whole_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [ints_for_whole_floats(v) for v in value]
    return value
