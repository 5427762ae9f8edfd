"""OpenTelemetry tracing for every service, configured by the standard OTEL_* variables.

Off by default (TracingConfig.from_env says when it turns on). When on, the gRPC server and
client calls of the process are instrumented (opentelemetry-instrumentation-grpc): a W3C
`traceparent` received is continued and one is sent with every outbound call, beside
`x-correlation-id`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

from sagakit.config import ConfigError

log = logging.getLogger("sagakit.tracing")

EXPORTERS = ("otlp", "console", "none")


@dataclass(frozen=True)
class TracingConfig:
    enabled: bool = False
    exporter: str = "otlp"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TracingConfig:
        """On when an OTLP endpoint is given (`OTEL_EXPORTER_OTLP_ENDPOINT` or
        `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) or an exporter is named (`OTEL_TRACES_EXPORTER=otlp`
        or `console`); `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` keep it off. The
        OTLP exporter (gRPC) reads the rest itself: headers, certificates, timeouts, `OTEL_BSP_*`
        batching. `OTEL_SERVICE_NAME` overrides the service's own name."""
        disabled = env.get("OTEL_SDK_DISABLED", "").strip().lower()
        if disabled not in ("", "true", "false"):
            raise ConfigError(f"OTEL_SDK_DISABLED: 'true' or 'false' (got {disabled!r})")
        named = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
        if named and named not in EXPORTERS:
            raise ConfigError(
                f"OTEL_TRACES_EXPORTER: one of {', '.join(EXPORTERS)} (got {named!r})"
            )
        for var in ("OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"):
            protocol = env.get(var, "").strip().lower()
            if protocol and protocol != "grpc":
                raise ConfigError(f"{var}: only 'grpc' is supported here (got {protocol!r})")
        endpoint = ""
        for var in ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"):
            value = env.get(var, "").strip()
            if value and not value.startswith(("http://", "https://")):
                raise ConfigError(f"{var}: a URL such as http://collector:4317 (got {value!r})")
            endpoint = endpoint or value
        if disabled == "true" or named == "none":
            return cls(False)
        return cls(bool(endpoint or named), named or "otlp")


class _ChosenIds(RandomIdGenerator):
    """Random ids, unless a span is started under `chosen_ids` (a saga's root span, whose ids
    every process driving the saga must agree on)."""

    def generate_span_id(self) -> int:
        chosen = _chosen.get()
        return chosen[1] if chosen else super().generate_span_id()

    def generate_trace_id(self) -> int:
        chosen = _chosen.get()
        return chosen[0] if chosen else super().generate_trace_id()


_chosen: ContextVar[tuple[int, int] | None] = ContextVar("chosen_span_ids", default=None)


@contextlib.contextmanager
def chosen_ids(trace_id: int, span_id: int) -> Iterator[None]:
    """Spans started (with no parent) inside this block get these ids."""
    token = _chosen.set((trace_id, span_id))
    try:
        yield
    finally:
        _chosen.reset(token)


class Tracing:
    """The process's tracer provider, its gRPC instrumentation, and its shutdown."""

    def __init__(self, service: str, config: TracingConfig) -> None:
        self.service = service
        resource = Resource.create({SERVICE_NAME: service})
        self.provider = TracerProvider(resource=resource, id_generator=_ChosenIds())
        if config.exporter == "console":
            exporter: object = ConsoleSpanExporter()
        else:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter()
        self.provider.add_span_processor(BatchSpanProcessor(exporter))  # type: ignore[arg-type]
        self.tracer = self.provider.get_tracer("flightsaga")

    def instrument_grpc(self) -> None:
        """Trace every grpc.aio server and channel made from now on (call before making any)."""
        from opentelemetry.instrumentation.grpc import (
            GrpcAioInstrumentorClient,
            GrpcAioInstrumentorServer,
        )

        GrpcAioInstrumentorServer().instrument(  # type: ignore[no-untyped-call]
            tracer_provider=self.provider
        )
        GrpcAioInstrumentorClient().instrument(  # type: ignore[no-untyped-call]
            tracer_provider=self.provider
        )

    def shutdown(self) -> None:
        """Export what is still buffered, then stop."""
        self.provider.shutdown()


_process: Tracing | None = None


def setup_tracing(service: str, env: Mapping[str, str]) -> Tracing | None:
    """Turn tracing on for this process if the OTEL_* variables ask for it (once, at start)."""
    global _process
    config = TracingConfig.from_env(env)
    if not config.enabled:
        return None
    _process = Tracing(service, config)
    trace.set_tracer_provider(_process.provider)
    _process.instrument_grpc()
    log.info("tracing on: spans exported (%s) as service %s", config.exporter, service)
    return _process


def current() -> Tracing | None:
    """The process's tracing, when on."""
    return _process
