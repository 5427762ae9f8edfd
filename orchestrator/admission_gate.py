"""Refuses a new saga before its request is read while this replica is full (Admission): an
interceptor placed after auth (a caller without a valid token is still told only that), before
the request is parsed and validated. A replay of a logged idempotency key is still answered:
BookFlight's key is in its metadata (a call without one is refused unparsed); StartBooking's and
StartSaga's `request_id` is in the body, parsed only then. The servicer's own admission check
stays as the second line (room may have been taken meanwhile).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import grpc

from orchestrator.admission import Admission
from sagakit.interceptors import Canned, abort, lenient, unparseable


@dataclass(frozen=True)
class KeyAt:
    """Where a method's idempotency key is: a metadata header, or a field of the request."""

    name: str
    in_body: bool = False


# The RPCs that start a saga, by method name.
NEW_SAGA_KEYS: Mapping[str, KeyAt] = {
    "BookFlight": KeyAt("x-idempotency-key"),
    "StartBooking": KeyAt("request_id", in_body=True),
    "StartSaga": KeyAt("request_id", in_body=True),
}


class AdmissionGate(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Placed after TokenAuthInterceptor: its refusal handler replaces this one's."""

    def __init__(
        self, admission: Admission, service: str, keys: Mapping[str, KeyAt] = NEW_SAGA_KEYS
    ) -> None:
        self.admission = admission
        self.refused = Canned.of(admission.overloaded())  # the same for every refused call
        self.keys = {f"/{service}/{method}": at for method, at in keys.items()}

    async def intercept_service(self, continuation: Any, details: grpc.HandlerCallDetails) -> Any:
        handler = await continuation(details)
        at = self.keys.get(details.method)
        if at is None or handler is None or handler.unary_unary is None:
            return handler
        if self.admission.has_room():
            return handler
        return grpc.unary_unary_rpc_method_handler(
            self._gated(handler, details, at),
            # The raw bytes: parsed only if the call is answered after all (or its key is there).
            request_deserializer=None,
            response_serializer=handler.response_serializer,
        )

    def _gated(self, handler: Any, details: grpc.HandlerCallDetails, at: KeyAt) -> Any:
        # Bytes that do not parse have no key (busy), or are bad input under a known one.
        parse = lenient(handler.request_deserializer) or _raw
        inner = handler.unary_unary
        md = details.invocation_metadata or ()

        async def run(raw: bytes, ctx: grpc.aio.ServicerContext) -> Any:
            request = parse(raw) if at.in_body else None
            if at.in_body:
                key = getattr(request, at.name, "")
            else:
                key = next((v for k, v in md if k == at.name and isinstance(v, str)), "")
            if await self.admission.answers(key.strip()):
                request = parse(raw) if request is None else request
                if (error := unparseable(request)) is not None:
                    await abort(ctx, error)  # (the error interceptor sits inside this one)
                return await inner(request, ctx)
            self.admission.note_refusal()
            await abort(ctx, self.refused)

        return run


def _raw(raw: bytes) -> bytes:
    return raw
