"""Server interceptors: correlation id, domain-error mapping, participant fault injection."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc

from sagakit import context
from sagakit.errors import (
    DETAILS_KEY,
    DomainError,
    InvalidArgument,
    Reason,
    Rejected,
)
from sagakit.metrics import Metrics
from sagakit.participant_faults import Fault, parse_participant_faults

log = logging.getLogger("sagakit.rpc")

Behavior = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]
Wrapper = Callable[[Behavior, grpc.HandlerCallDetails], Behavior]


def _metadata(details: grpc.HandlerCallDetails) -> dict[str, str]:
    return {k: v for k, v in (details.invocation_metadata or ()) if isinstance(v, str)}


def wrap_unary(
    handler: grpc.RpcMethodHandler,
    details: grpc.HandlerCallDetails,
    wrap: Wrapper,
    deserializer: Callable[[bytes], Any] | None = None,
) -> Any:
    """Wrap a unary-unary handler's behavior; other kinds pass through unchanged."""
    if handler is None or handler.unary_unary is None:
        return handler
    return grpc.unary_unary_rpc_method_handler(
        wrap(handler.unary_unary, details),
        request_deserializer=deserializer or handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


class Unparseable:
    """A request whose bytes are not the method's message: answered INVALID_ARGUMENT (grpcio
    itself answers UNKNOWN "Wire format was corrupt" when the deserializer raises)."""

    def __init__(self, error: str) -> None:
        self.error = error


def lenient(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserializer is None:
        return None
    parse = deserializer

    def parsed(raw: bytes) -> Any:
        try:
            return parse(raw)
        except Exception as exc:
            return Unparseable(str(exc) or type(exc).__name__)

    return parsed


def unparseable(request: Any) -> InvalidArgument | None:
    """The error a request that did not parse is answered with (None: it parsed)."""
    if isinstance(request, Unparseable):
        return InvalidArgument(
            "request", f"the bytes do not parse as this method's message ({request.error})"
        )
    return None


def _refuse_unparseable(request: Any) -> None:
    if (error := unparseable(request)) is not None:
        raise error


class CorrelationInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Bind x-correlation-id (or a new one) to the contextvar and echo it to the caller.

    A unary call echoes it in the trailing metadata, which grpc.aio sends with the status in
    the call's last batch: no operation of its own (sending initial metadata early is one more
    batch per call). `abort()` without trailing metadata of its own, and an unhandled
    exception, keep what was set here, so a failed call echoes it too. A stream sends it in
    its initial metadata, before the first event.
    """

    async def intercept_service(self, continuation: Any, details: grpc.HandlerCallDetails) -> Any:
        handler = await continuation(details)
        cid = _metadata(details).get(context.CORRELATION_HEADER) or context.new_correlation_id()

        def wrap(behavior: Behavior, _: grpc.HandlerCallDetails) -> Behavior:
            async def run(request: Any, ctx: grpc.aio.ServicerContext) -> Any:
                context.correlation_id.set(cid)
                # Bound here so even lines logged before the servicer runs (faults) carry it.
                if saga_id := getattr(request, "saga_id", ""):
                    context.saga_id.set(str(saga_id)[:64])
                ctx.set_trailing_metadata(((context.CORRELATION_HEADER, cid),))
                return await behavior(request, ctx)

            return run

        if handler is not None and handler.unary_stream is not None:
            inner = handler.unary_stream

            async def stream(request: Any, ctx: grpc.aio.ServicerContext) -> Any:
                context.correlation_id.set(cid)
                await ctx.send_initial_metadata(((context.CORRELATION_HEADER, cid),))
                async for item in inner(request, ctx):
                    yield item

            return grpc.unary_stream_rpc_method_handler(
                stream,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return wrap_unary(handler, details, wrap)


def _code_of(ctx: grpc.aio.ServicerContext, exc: BaseException | None) -> str:
    if exc is None:
        code = ctx.code()
        return "OK" if code is None else getattr(code, "name", str(code))
    if isinstance(exc, asyncio.CancelledError):
        return "CANCELLED"
    if isinstance(exc, grpc.aio.AbortError):
        code = ctx.code()
        return getattr(code, "name", "UNKNOWN")
    return "UNKNOWN"


@dataclass(frozen=True)
class Canned:
    """A DomainError's answer serialized once: for one refusal sent alike to many calls."""

    code: grpc.StatusCode
    message: str
    details: bytes  # the google.rpc.Status

    @classmethod
    def of(cls, exc: DomainError) -> Canned:
        return cls(exc.code, exc.message, exc.status().SerializeToString())


async def abort(ctx: grpc.aio.ServicerContext, exc: DomainError | Canned) -> None:
    """End the call with the error's code, message and google.rpc.Status details."""
    answer = exc if isinstance(exc, Canned) else Canned.of(exc)
    # abort() replaces the trailing metadata: the correlation id goes with the details.
    cid = context.correlation_id.get()
    trailing = ((context.CORRELATION_HEADER, cid), (DETAILS_KEY, answer.details))
    await ctx.abort(answer.code, answer.message, trailing_metadata=trailing)


class MetricsInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Time every call to its answer by method and status code (outermost, so refusals by the
    other interceptors, injected faults among them, are measured too)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    async def intercept_service(self, continuation: Any, details: grpc.HandlerCallDetails) -> Any:
        handler = await continuation(details)
        method = details.method
        observe = self.metrics.observe_rpc

        def wrap(behavior: Behavior, _: grpc.HandlerCallDetails) -> Behavior:
            async def run(request: Any, ctx: grpc.aio.ServicerContext) -> Any:
                began = time.perf_counter()
                failure: BaseException | None = None
                try:
                    return await behavior(request, ctx)
                except BaseException as exc:
                    failure = exc
                    raise
                finally:
                    observe(method, _code_of(ctx, failure), time.perf_counter() - began)

            return run

        if handler is not None and handler.unary_stream is not None:
            inner = handler.unary_stream

            async def stream(request: Any, ctx: grpc.aio.ServicerContext) -> Any:
                began = time.perf_counter()
                failure: BaseException | None = None
                try:
                    async for item in inner(request, ctx):
                        yield item
                except BaseException as exc:
                    failure = exc
                    raise
                finally:
                    observe(method, _code_of(ctx, failure), time.perf_counter() - began)

            return grpc.unary_stream_rpc_method_handler(
                stream,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return wrap_unary(handler, details, wrap)


class ErrorInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Turn DomainError into its status code; anything unexpected is logged and INTERNAL."""

    async def _answer(self, method: str, ctx: grpc.aio.ServicerContext, exc: Exception) -> None:
        """End the call with the exception's status (unary and stream alike): a DomainError's
        own code, message and details; anything else is logged and INTERNAL. Called inside
        `except`."""
        if not isinstance(exc, DomainError):
            log.exception("%s failed unexpectedly", method)
            exc = DomainError("internal error (see service log)", Reason.INTERNAL)
        elif exc.logged:
            log.info("%s -> %s %s: %s", method, exc.code.name, exc.reason, exc.message)
        await abort(ctx, exc)

    async def intercept_service(self, continuation: Any, details: grpc.HandlerCallDetails) -> Any:
        handler = await continuation(details)

        def wrap(behavior: Behavior, det: grpc.HandlerCallDetails) -> Behavior:
            async def run(request: Any, ctx: grpc.aio.ServicerContext) -> Any:
                try:
                    _refuse_unparseable(request)
                    return await behavior(request, ctx)
                except (asyncio.CancelledError, grpc.aio.AbortError):
                    raise
                except Exception as exc:
                    await self._answer(det.method, ctx, exc)

            return run

        if handler is not None and handler.unary_stream is not None:
            # A server stream maps its errors like a unary call (grpc.aio would answer UNKNOWN
            # "Unexpected <class ...>" for a DomainError raised by the generator).
            inner = handler.unary_stream
            method = details.method

            async def stream(request: Any, ctx: grpc.aio.ServicerContext) -> Any:
                try:
                    _refuse_unparseable(request)
                    async for item in inner(request, ctx):
                        yield item
                except (asyncio.CancelledError, grpc.aio.AbortError):
                    raise
                except Exception as exc:
                    await self._answer(method, ctx, exc)

            return grpc.unary_stream_rpc_method_handler(
                stream,
                request_deserializer=lenient(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
        return wrap_unary(
            handler, details, wrap, lenient(getattr(handler, "request_deserializer", None))
        )


class FaultInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Honour x-fail / x-fault on Do and Compensate when enabled; refuse them when disabled."""

    def __init__(self, step: str, enabled: bool, canonical: Callable[[str, str], str]) -> None:
        self.step = step
        self.canonical = canonical
        self.enabled = enabled
        self._detached: set[asyncio.Task[Any]] = set()

    async def intercept_service(self, continuation: Any, details: grpc.HandlerCallDetails) -> Any:
        handler = await continuation(details)
        md = _metadata(details)
        x_fail, x_fault = md.get("x-fail", ""), md.get("x-fault", "")
        if not (x_fail.strip() or x_fault.strip()):
            return handler
        op = details.method.rsplit("/", 1)[-1].lower()
        return wrap_unary(handler, details, lambda b, _: self._faulty(b, op, x_fail, x_fault))

    def _faulty(self, behavior: Behavior, op: str, x_fail: str, x_fault: str) -> Behavior:
        async def run(request: Any, ctx: grpc.aio.ServicerContext) -> Any:
            # Refused here, outside the ErrorInterceptor: aborted with details directly.
            if not self.enabled:
                await abort(
                    ctx,
                    Rejected(
                        "fault injection is disabled on this service (start it with "
                        "FAULT_INJECTION=enabled); x-fail / x-fault refused",
                        Reason.FAULT_INJECTION_DISABLED,
                    ),
                )
            try:
                faults = parse_participant_faults(x_fail, x_fault, self.step, self.canonical)
            except DomainError as exc:
                await abort(ctx, exc)
            if op not in ("do", "compensate"):
                await abort(
                    ctx,
                    InvalidArgument("x-fault", "x-fail / x-fault apply to Do and Compensate only"),
                )
            mine = [f for f in faults if f.op == op]
            return await self._apply(mine, behavior, request, ctx)

        return run

    async def _apply(
        self, faults: list[Fault], behavior: Behavior, request: Any, ctx: grpc.aio.ServicerContext
    ) -> Any:
        kinds = {f.kind: f for f in faults}
        what = f"{self.step} {faults[0].op if faults else ''}".strip()
        if "fail" in kinds:
            log.warning("[FAULT] injected business failure at %s", what)
            code = grpc.StatusCode.ABORTED if kinds["fail"].op == "do" else grpc.StatusCode.INTERNAL
            await self._abort(ctx, code, f"injected failure at {what} (fault injection)", "fail")
        if "unavailable" in kinds:
            log.warning("[FAULT] injected transient failure at %s", what)
            await self._abort(
                ctx, grpc.StatusCode.UNAVAILABLE, f"injected transient failure at {what}",
                "unavailable",
            )  # fmt: skip
        if "delay" in kinds:
            delay = kinds["delay"].delay_ms / 1000
            log.warning("[FAULT] delaying %s by %.3fs", what, delay)
            # The work goes on after the caller gives up, as a hanging request would.
            task = asyncio.create_task(self._late(delay, behavior, request, ctx, what))
            self._detached.add(task)
            task.add_done_callback(self._detached.discard)
            reply = await asyncio.shield(task)
        else:
            reply = await behavior(request, ctx)
        if "lost-reply" in kinds:
            log.warning("[FAULT] %s committed; dropping the reply", what)
            await self._abort(
                ctx, grpc.StatusCode.UNAVAILABLE, f"injected lost reply at {what}", "lost-reply"
            )
        return reply

    async def _abort(
        self, ctx: grpc.aio.ServicerContext, code: grpc.StatusCode, message: str, kind: str
    ) -> None:
        """End the call as the fault says, with ErrorInfo FAULT_INJECTED (kind, step)."""
        err = DomainError(message, Reason.FAULT_INJECTED, kind=kind, step=self.step)
        err.code = code
        await abort(ctx, err)

    async def _late(
        self,
        delay: float,
        behavior: Behavior,
        request: Any,
        ctx: grpc.aio.ServicerContext,
        what: str,
    ) -> Any:
        await asyncio.sleep(delay)
        try:
            return await behavior(request, ctx)
        except BaseException as exc:
            if not ctx.done():
                raise
            log.warning("[FAULT] late %s finished after its caller left: %r", what, exc)
            return None
