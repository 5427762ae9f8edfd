"""The whole FlightSaga stack in-process: four participants and the orchestrator on 127.0.0.1:0."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.app import build as build_orchestrator
from sagakit.channels import RECONNECT_OPTIONS
from sagakit.config import RetentionConfig, TlsConfig
from sagas import registry, services
from sagas.peers import Peers
from tests.support.services import UrlFor, config_for, running_service

# Fast but realistic settings for tests: short step deadlines and retry budgets.
TEST_ENV = {
    "STEP_TIMEOUT_MS": "1000",
    "STEP_MAX_ATTEMPTS": "3",
    "STEP_RETRY_FOR_S": "3",
    "COMPENSATION_MAX_ATTEMPTS": "4",
    "COMPENSATION_RETRY_FOR_S": "10",
    "SAGA_TIMEOUT_S": "60",
}


@dataclass
class Stack:
    orchestrator_addr: str
    addrs: dict[str, str]
    data_dir: Path
    # With TLS: the test's client certificate (`client` of `flightsaga certs`); and a token.
    client_tls: TlsConfig = field(default_factory=TlsConfig)
    token: str = ""
    sagas: str = registry.DEFAULT  # SAGAS: which sagas it serves

    @property
    def served(self) -> tuple[services.Participant, ...]:
        """The participants running (those of the sagas SAGAS named, the booking's by default)."""
        return tuple(p for p in registry.parse(self.sagas).participants if p.package in self.addrs)

    def __post_init__(self) -> None:
        secure = self.client_tls.client_tls or bool(self.token)
        self.peers = Peers(
            {
                services.ORCHESTRATOR.name: self.orchestrator_addr,
                **{p.name: self.addrs[p.package] for p in self.served},
            },
            tls=self.client_tls,
            token=self.token,
            # Plaintext without a token: gRPC's default channel, the one these tests were tuned
            # with (the chaos crash test's timing differs under the round_robin policy).
            options=RECONNECT_OPTIONS if secure else (),
        )
        self.channels = list(self.peers.channels.values())
        self.orchestrator = self.peers.orchestrator
        self.seat = self.peers.seat
        self.loyalty = self.peers.loyalty
        self.payment = self.peers.payment
        self.booking = self.peers.booking


def orchestrator_env(addrs: dict[str, str], data_dir: Path, **extra: str) -> dict[str, str]:
    return {
        **TEST_ENV,
        **{
            p.env_var: addrs[p.package]
            for p in registry.parse(extra.get("SAGAS", registry.DEFAULT)).participants
        },
        "BOOKINGS_LOG": str(data_dir / "bookings.jsonl"),
        # One orchestrator restarted on its log takes its sagas back at once (a replica with a
        # new name would wait for their leases to expire).
        "ORCHESTRATOR_ID": "test-orchestrator",
        **extra,
    }


def tls_files(certs: Path, name: str) -> dict[str, str]:
    """The TLS_* variables for certificate `name` of a `flightsaga certs` folder."""
    return {
        "TLS_CERT_FILE": str(certs / f"{name}.pem"),
        "TLS_KEY_FILE": str(certs / f"{name}-key.pem"),
        "TLS_CA_FILE": str(certs / "ca.pem"),
    }


def tls_for(certs: Path | None, name: str) -> TlsConfig:
    """mTLS as certificate `name` of `certs`; plaintext when `certs` is None."""
    return TlsConfig() if certs is None else TlsConfig.from_env(tls_files(certs, name))


@asynccontextmanager
async def running_participants(
    data_dir: Path,
    urls: UrlFor = None,
    certs: Path | None = None,
    retention: RetentionConfig | None = None,
    sagas: str = registry.DEFAULT,
) -> AsyncIterator[dict[str, str]]:
    """The participants of `sagas` (SAGAS; the booking saga's four by default), by package."""
    async with AsyncExitStack() as stack:
        addrs = {}
        for name in (p.package for p in registry.parse(sagas).participants):
            addrs[name] = await stack.enter_async_context(
                running_service(
                    name, data_dir, urls=urls, tls=tls_for(certs, name), retention=retention
                )
            )
        yield addrs


@asynccontextmanager
async def running_orchestrator(
    addrs: dict[str, str],
    data_dir: Path,
    fault_injection: bool = True,
    urls: UrlFor = None,
    certs: Path | None = None,
    **env: str,
) -> AsyncIterator[str]:
    config = config_for(
        "orchestrator", data_dir, fault_injection, urls, tls_for(certs, "orchestrator")
    )
    app = build_orchestrator(config, orchestrator_env(addrs, data_dir, **env))
    port = await app.start("127.0.0.1", 0)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await app.stop(0.5)


@asynccontextmanager
async def running_stack(
    data_dir: Path,
    fault_injection: bool = True,
    urls: UrlFor = None,
    certs: Path | None = None,
    token: str = "",
    retention: RetentionConfig | None = None,
    **env: str,
) -> AsyncIterator[Stack]:
    """The whole stack; `urls`: each service's database (default: SQLite files in data_dir).
    `certs` (a `flightsaga certs` folder): every service on mTLS, the test's stubs presenting
    the `client` certificate; `token`: sent by those stubs (with AUTH_TOKENS_FILE in `env`);
    `retention`: the participants' (the orchestrator's comes from `env`)."""
    sagas = env.get("SAGAS", registry.DEFAULT)
    async with (
        running_participants(data_dir, urls, certs, retention, sagas) as addrs,
        running_orchestrator(addrs, data_dir, fault_injection, urls, certs, **env) as orch,
    ):
        stack = Stack(
            orch, addrs, data_dir, client_tls=tls_for(certs, "client"), token=token, sagas=sagas
        )
        try:
            yield stack
        finally:
            for channel in stack.channels:
                await channel.close()
