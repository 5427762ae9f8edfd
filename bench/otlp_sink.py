"""`python -m bench.otlp_sink PORT`: an OTLP/gRPC trace receiver that accepts and drops spans,
for measuring the cost of tracing (`python -m bench --tracing`). It runs in a process of its
own, so receiving spans costs neither the services nor the bench's client."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from sagakit.server import stop_on_signals


class _Sink(trace_service_pb2_grpc.TraceServiceServicer):  # type: ignore[misc]
    def __init__(self) -> None:
        self.spans = 0

    async def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: Any
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        self.spans += sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
        return trace_service_pb2.ExportTraceServiceResponse()


async def serve(port: int) -> None:
    sink = _Sink()
    server = grpc.aio.server(options=(("grpc.so_reuseport", 0),))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(sink, server)  # type: ignore[no-untyped-call]
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await stop_on_signals().wait()
    await server.stop(0)
    print(f"otlp sink: {sink.spans} spans received", file=sys.stderr)


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
