"""An OTLP/gRPC trace receiver for tests: the collector's TraceService on 127.0.0.1, keeping
every span it is sent (with the service that sent it)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


@dataclass(frozen=True)
class Span:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    kind: int
    attributes: dict[str, Any]
    status_code: int  # 0 unset, 1 ok, 2 error
    links: tuple[tuple[str, str], ...]  # (trace id, span id)
    events: tuple[str, ...]
    start_ns: int


def _value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind else None


@dataclass
class Receiver(trace_service_pb2_grpc.TraceServiceServicer):  # type: ignore[misc]
    spans: list[Span] = field(default_factory=list)
    endpoint: str = ""

    async def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: Any
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        for rs in request.resource_spans:
            attrs = {a.key: _value(a.value) for a in rs.resource.attributes}
            for ss in rs.scope_spans:
                for s in ss.spans:
                    self.spans.append(
                        Span(
                            service=str(attrs.get("service.name", "")),
                            name=s.name,
                            trace_id=s.trace_id.hex(),
                            span_id=s.span_id.hex(),
                            parent_id=s.parent_span_id.hex(),
                            kind=s.kind,
                            attributes={a.key: _value(a.value) for a in s.attributes},
                            status_code=s.status.code,
                            links=tuple((ln.trace_id.hex(), ln.span_id.hex()) for ln in s.links),
                            events=tuple(e.name for e in s.events),
                            start_ns=s.start_time_unix_nano,
                        )
                    )
        return trace_service_pb2.ExportTraceServiceResponse()

    async def wait_for(self, done: Callable[[list[Span]], bool], timeout: float = 30) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while not done(self.spans):
            if loop.time() > end:
                names = sorted({(s.service, s.name) for s in self.spans})
                raise AssertionError(f"spans not received within {timeout}s; got {names}")
            await asyncio.sleep(0.1)


@asynccontextmanager
async def otlp_receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    server = grpc.aio.server(options=(("grpc.so_reuseport", 0),))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(receiver, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    receiver.endpoint = f"http://127.0.0.1:{port}"
    try:
        yield receiver
    finally:
        await server.stop(0)
