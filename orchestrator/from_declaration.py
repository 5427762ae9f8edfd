"""An engine SagaDefinition built from a saga declaration (sagas.declare), for any saga.

A step's action is its participant's `Do(step.request(saga_id, input, *earlier replies))`; its
compensation `Compensate(saga_id)`. Replies are kept as the saga log keeps them (to_dict); an
earlier reply is rebuilt typed for a later step's request builder with just the fields the
declaration says later steps read (`Step.keep`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from orchestrator import participant_calls as calls
from orchestrator.engine.definition import (
    RetryPolicy,
    SagaDefinition,
    StepCall,
    StepFn,
    StepSpec,
)
from sagakit.plainjson import plain
from sagas.declare import SagaDeclaration, Step
from sagas.peers import Peers

M = TypeVar("M", bound=Message)

_INTEGER = {
    FieldDescriptor.CPPTYPE_INT32,
    FieldDescriptor.CPPTYPE_INT64,
    FieldDescriptor.CPPTYPE_UINT32,
    FieldDescriptor.CPPTYPE_UINT64,
}


def to_dict(message: Message) -> dict[str, Any]:
    """A participant's reply as the saga log keeps it: every field, numbers as numbers."""
    return plain(message, every_field=True)


def typed_reply(results: Mapping[str, Mapping[str, Any]], step: Step, message: M) -> M:
    """An earlier step's reply, rebuilt from its logged JSON form (to_dict: int64 as strings)
    with just the fields later steps read; cheaper than json_format.ParseDict of all of it."""
    reply = results[step.name]
    fields = message.DESCRIPTOR.fields_by_name
    for name in step.keep:
        if name not in reply:
            continue
        value, field = reply[name], fields[name]
        if field.message_type is not None:
            repeated = getattr(message, name)
            for item in value:
                _parse_flat(item, repeated.add())
        elif field.cpp_type in _INTEGER:
            setattr(message, name, int(value))
        else:
            setattr(message, name, value)
    return message


def _parse_flat(value: Mapping[str, Any], message: Message) -> None:
    """json_format.ParseDict(value, message, ignore_unknown_fields=True) for a logged item
    of plain scalar fields (a seat assignment), set directly; anything else (a nested
    message, an enum, a list, a name it does not know) goes through ParseDict."""
    fields = message.DESCRIPTOR.fields_by_name
    try:
        for name, item in value.items():
            field = fields.get(name)
            if field is None or field.message_type or field.enum_type or field.is_repeated:
                raise TypeError(name)
            if item is not None:
                setattr(message, name, int(item) if field.cpp_type in _INTEGER else item)
    except (TypeError, ValueError):
        message.Clear()
        json_format.ParseDict(dict(value), message, ignore_unknown_fields=True)


def _action(saga: SagaDeclaration, index: int, peers: Peers) -> StepFn:
    step = saga.steps[index]
    earlier = saga.steps[:index]

    async def run(call: StepCall) -> dict[str, Any]:
        replies = [typed_reply(call.results, e, e.participant.do_reply()) for e in earlier]
        request = step.request(call.saga_id, saga.input.FromString(call.payload), *replies)
        method = peers.stub(step.participant).Do
        return to_dict(await calls.call(method, request, call, step.name))

    return run


def _compensation(step: Step, peers: Peers) -> StepFn:
    make = step.participant.compensate_request

    async def run(call: StepCall) -> dict[str, Any]:
        request = make(saga_id=call.saga_id)
        method = peers.stub(step.participant).Compensate
        return to_dict(await calls.call(method, request, call, step.name, forward=False))

    return run


def build(
    saga: SagaDeclaration, peers: Peers, step_timeout: float, retry: RetryPolicy
) -> SagaDefinition:
    """The engine's definition of `saga`, calling its participants through `peers`."""
    return SagaDefinition(
        name=saga.name,
        steps=tuple(
            StepSpec(
                step.name,
                _action(saga, i, peers),
                _compensation(step, peers),
                step_timeout,
                retry,
            )
            for i, step in enumerate(saga.steps)
        ),
        summarize=saga.summarize,
        version=saga.version,
    )
