"""Who may call what: bearer tokens with roles (orchestrator API) and the orchestrator's
certificate identity (participants' Do/Compensate under mTLS). docs/security.md#who-may-call-what.

AUTH_TOKENS_FILE holds one `name roles sha256:<hex>` line per token (never the token itself);
`flightsaga token NAME ROLES` makes a random token and prints its line. A name is what a saga
records as its owner and what logs show; the token never appears in a log.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from sagakit.config import ConfigError
from sagakit.errors import DomainError
from sagakit.tls import peer_names

log = logging.getLogger("sagakit.auth")

# AUTH_TOKENS_FILE: one token per line, only its SHA-256; # comments and blank lines ignored.
#
#     # name     roles             sha256 of the token
#     alice      booker            sha256:3c9f...e1
#     dash       reader,booker     sha256:...
#     ops        operator          sha256:...
TOKENS_VAR = "AUTH_TOKENS_FILE"
BOOKER, READER, OPERATOR = "booker", "reader", "operator"
ROLES = (BOOKER, READER, OPERATOR)
_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
_DIGEST = re.compile(r"^sha256:([0-9a-f]{64})$")


@dataclass(frozen=True)
class Caller:
    """An authenticated caller: its name and roles."""

    name: str
    roles: frozenset[str]

    def has(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))


class PermissionDenied(DomainError):
    """An authenticated caller asked for something its roles do not cover."""

    code = grpc.StatusCode.PERMISSION_DENIED


# The caller of the current RPC; None when auth is off (every caller may do everything).
caller: ContextVar[Caller | None] = ContextVar("caller", default=None)


def digest(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


def new_token(name: str, roles: str) -> tuple[str, str]:
    """A fresh random token and its AUTH_TOKENS_FILE line."""
    entry = _parse_line(f"{name} {roles} sha256:{'0' * 64}", "argument")
    token = "fs_" + secrets.token_urlsafe(32)
    return token, f"{entry.name} {','.join(sorted(entry.roles))} {digest(token)}"


@dataclass(frozen=True)
class _Entry:
    name: str
    roles: frozenset[str]
    digest: bytes


def _parse_line(line: str, where: str) -> _Entry:
    parts = line.split()
    if len(parts) != 3:
        raise ConfigError(f"{where}: expected 'NAME ROLES sha256:HEX', got {len(parts)} fields")
    name, roles_text, secret = parts
    if not _NAME.match(name):
        raise ConfigError(f"{where}: name {name!r} must be 1-64 of A-Z a-z 0-9 _ . @ -")
    roles = frozenset(r.strip().lower() for r in roles_text.split(",") if r.strip())
    unknown = sorted(roles - set(ROLES))
    if not roles or unknown:
        raise ConfigError(f"{where}: roles must be among {', '.join(ROLES)}, got {roles_text!r}")
    match = _DIGEST.match(secret.lower())
    if match is None:
        # Never echo the value: it may be a token pasted in clear by mistake.
        raise ConfigError(f"{where}: the third field must be sha256:<64 hex digits>")
    return _Entry(name, roles, bytes.fromhex(match.group(1)))


class Tokens:
    """The tokens of AUTH_TOKENS_FILE, checked in constant time."""

    def __init__(self, entries: Iterable[_Entry]) -> None:
        self._entries = list(entries)

    @classmethod
    def parse(cls, text: str, source: str = TOKENS_VAR) -> Tokens:
        entries = []
        for n, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if line and not line.startswith("#"):
                entries.append(_parse_line(line, f"{source} line {n}"))
        if not entries:
            raise ConfigError(f"{source}: no tokens (auth would refuse every caller)")
        names = [e.name for e in entries]
        if len(set(names)) != len(names):
            raise ConfigError(f"{source}: a name appears twice")
        return cls(entries)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Tokens | None:
        """None (auth off) when AUTH_TOKENS_FILE is unset."""
        path = environ.get(TOKENS_VAR, "").strip()
        if not path:
            return None
        try:
            text = Path(path).read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{TOKENS_VAR}: cannot read {path!r} ({exc})") from None
        return cls.parse(text, f"{TOKENS_VAR} {path}")

    def check(self, token: str) -> Caller | None:
        """The caller holding `token`, or None. Every entry is compared (no early exit), each
        with hmac.compare_digest, so timing tells nothing about which digest came close."""
        presented = hashlib.sha256(token.encode()).digest()
        found: _Entry | None = None
        for entry in self._entries:
            if hmac.compare_digest(presented, entry.digest) and found is None:
                found = entry
        return Caller(found.name, found.roles) if found is not None else None

    def from_header(self, value: str) -> Caller | None:
        """`Bearer <token>` (scheme case-insensitive) -> the caller, or None."""
        scheme, _, token = value.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return self.check(token.strip())


Behavior = Callable[[Any, grpc.aio.ServicerContext], Any]


def _replace(handler: Any, unary: Behavior | None, stream: Behavior | None) -> Any:
    if handler.unary_unary is not None and unary is not None:
        return grpc.unary_unary_rpc_method_handler(
            unary,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    if handler.unary_stream is not None and stream is not None:
        return grpc.unary_stream_rpc_method_handler(
            stream,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    return handler


def _refusal(handler: Any, code: grpc.StatusCode, message: str) -> Any:
    """The same handler kind, answering `code` without running the method."""

    async def unary(request: Any, ctx: grpc.aio.ServicerContext) -> Any:
        await ctx.abort(code, message)

    async def stream(request: Any, ctx: grpc.aio.ServicerContext) -> Any:
        await ctx.abort(code, message)
        yield  # pragma: no cover - makes this an async generator

    return _replace(handler, unary, stream)


def _with_caller(handler: Any, who: Caller) -> Any:
    """Bind the caller for the method's own checks (a booker reads only its sagas)."""
    inner_unary, inner_stream = handler.unary_unary, handler.unary_stream

    async def unary(request: Any, ctx: grpc.aio.ServicerContext) -> Any:
        caller.set(who)
        return await inner_unary(request, ctx)

    async def stream(request: Any, ctx: grpc.aio.ServicerContext) -> Any:
        caller.set(who)
        async for item in inner_stream(request, ctx):
            yield item

    return _replace(handler, unary, stream)


class TokenAuthInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Bearer-token auth for one gRPC service: `rules` maps a method name to the roles that may
    call it; `privileged` maps metadata keys to the roles that may send them (fault injection).
    Other services on the server (health, reflection) stay open: probes and `grpcurl list`."""

    def __init__(
        self,
        tokens: Tokens,
        service: str,
        rules: Mapping[str, tuple[str, ...]],
        privileged: Mapping[str, tuple[str, ...]],
    ) -> None:
        self.tokens = tokens
        self.prefix = f"/{service}/"
        self.rules = rules
        self.privileged = privileged

    async def intercept_service(self, continuation: Any, details: grpc.HandlerCallDetails) -> Any:
        handler = await continuation(details)
        if handler is None or not details.method.startswith(self.prefix):
            return handler
        method = details.method[len(self.prefix) :]
        md = details.invocation_metadata or ()
        header = next((v for k, v in md if k == "authorization" and isinstance(v, str)), "")
        who = self.tokens.from_header(header) if header else None
        if who is None:
            why = "a bad or unknown token" if header else "no token"
            log.info("%s refused: %s", method, why)
            return _refusal(
                handler,
                grpc.StatusCode.UNAUTHENTICATED,
                f"authentication required: send 'authorization: Bearer <token>' ({why}; "
                "the CLI and clients read FLIGHTSAGA_TOKEN)",
            )
        allowed = self.rules.get(method, ())
        if not who.has(*allowed):
            log.info("%s refused for %s (roles %s)", method, who.name, ",".join(sorted(who.roles)))
            return _refusal(
                handler,
                grpc.StatusCode.PERMISSION_DENIED,
                f"{method} needs role {' or '.join(allowed) or '(none)'}; "
                f"{who.name} has {', '.join(sorted(who.roles))}",
            )
        for key, roles in self.privileged.items():
            sent = any(k == key and str(v).strip() for k, v in md)
            if sent and not who.has(*roles):
                return _refusal(
                    handler,
                    grpc.StatusCode.PERMISSION_DENIED,
                    f"metadata {key} needs role {' or '.join(roles)}; {who.name} has "
                    f"{', '.join(sorted(who.roles))}",
                )
        return _with_caller(handler, who)


class PeerIdentityInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Under mTLS, `methods` (a participant's Do and Compensate) only from a client certificate
    naming `identity` (its common name or a SAN); other methods from any verified client."""

    def __init__(self, identity: str, methods: tuple[str, ...] = ("Do", "Compensate")) -> None:
        self.identity = identity
        self.methods = methods

    async def intercept_service(self, continuation: Any, details: grpc.HandlerCallDetails) -> Any:
        handler = await continuation(details)
        if handler is None or details.method.rsplit("/", 1)[-1] not in self.methods:
            return handler
        inner = handler.unary_unary
        if inner is None:
            return handler

        async def unary(request: Any, ctx: grpc.aio.ServicerContext) -> Any:
            names = peer_names(ctx)
            if self.identity not in names:
                shown = ", ".join(sorted(names)) or "no client certificate"
                await ctx.abort(
                    grpc.StatusCode.PERMISSION_DENIED,
                    f"{details.method.rsplit('/', 1)[-1]} is for the orchestrator only "
                    f"(certificate {self.identity!r}); the caller presented {shown}",
                )
            return await inner(request, ctx)

        return _replace(handler, unary, None)
