"""TLS, mTLS and API tokens on real servers (docs/security.md): real TLS handshakes with
certificates made by `flightsaga certs` code, the real CLI and the real grpcurl binary."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from google.protobuf import json_format

from flightsaga.v1 import common_pb2, orchestrator_pb2_grpc, seat_pb2, seat_pb2_grpc
from flightsaga.v1 import orchestrator_pb2 as pb
from sagakit.auth import new_token
from sagakit.channels import open_channel
from sagakit.config import TlsConfig
from tests.support.booking import book_request, first_flight
from tests.support.dates import flight_id
from tests.support.participants import seat_do
from tests.support.stack import Stack, running_stack, tls_files, tls_for
from tooling.certs import make_certs

pytestmark = pytest.mark.timeout(120)

GRPCURL = shutil.which("grpcurl", path=str(Path(sys.executable).parent)) or "grpcurl"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("certs")
    make_certs(out)
    return out


@pytest.fixture(scope="module")
def tokens(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """An AUTH_TOKENS_FILE with one caller per role (two bookers) and their tokens."""
    lines, plain = [], {}
    for name, roles in (
        ("ann", "booker"),
        ("bob", "booker"),
        ("rita", "reader"),
        ("ops", "operator"),
    ):
        token, line = new_token(name, roles)
        plain[name] = token
        lines.append(line)
    path = tmp_path_factory.mktemp("auth") / "tokens.txt"
    path.write_text("# name roles digest\n" + "\n".join(lines) + "\n")
    yield path, plain


def files_text(folder: Path) -> str:
    """Every log and bookings file the stack wrote under `folder`."""
    files = [p for p in folder.rglob("*") if p.is_file() and p.suffix in (".jsonl", ".log")]
    return "".join(p.read_text(errors="replace") for p in files)


def stub(stack: Stack, token: str) -> orchestrator_pb2_grpc.OrchestratorStub:
    channel = open_channel(stack.orchestrator_addr, stack.client_tls, token)
    stack.channels.append(channel)
    return orchestrator_pb2_grpc.OrchestratorStub(channel)


async def code_of(call: object) -> grpc.StatusCode:
    try:
        await call  # type: ignore[misc]
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


# ---- mTLS -------------------------------------------------------------------------------------


async def test_a_saga_runs_over_mtls_and_only_the_orchestrator_may_call_do(
    tmp_path: Path, certs: Path
) -> None:
    async with running_stack(tmp_path, certs=certs) as stack:
        flight = await first_flight(stack)  # a read RPC, with the client certificate: allowed
        saga = await stack.orchestrator.BookFlight(book_request([flight]), timeout=30)
        assert saga.status == pb.COMPLETED, saga.error
        # The client certificate is verified, but it is not the orchestrator's: no Do.
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stack.seat.Do(seat_do(uuid.uuid4().hex), timeout=5)
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "orchestrator" in (refused.value.details() or "")
        # The orchestrator's certificate may (what the orchestrator itself does).
        orch_tls = tls_for(certs, "orchestrator")
        async with open_channel(stack.addrs["seat_service"], orch_tls, "") as channel:
            reply = await seat_pb2_grpc.SeatServiceStub(channel).Do(
                seat_do(uuid.uuid4().hex), timeout=5
            )
        assert reply.seats


async def test_callers_without_a_valid_certificate_cannot_connect(
    tmp_path: Path, certs: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    other = tmp_path_factory.mktemp("other-ca")
    make_certs(other, ["client"])
    ca = certs / "ca.pem"
    async with running_stack(tmp_path, certs=certs) as stack:
        attempts = {
            "plaintext": TlsConfig(),
            "TLS without a client certificate": TlsConfig(root_ca=ca.read_bytes()),
            "a certificate from another CA": TlsConfig.from_env(
                {**tls_files(other, "client"), "TLS_CA_FILE": str(ca)}
            ),
        }
        for what, tls in attempts.items():
            async with open_channel(stack.addrs["seat_service"], tls, "") as channel:
                call = seat_pb2_grpc.SeatServiceStub(channel).GetFlight(
                    seat_pb2.GetFlightRequest(flight_id=flight_id("FS101", 1)), timeout=3
                )
                assert await code_of(call) == grpc.StatusCode.UNAVAILABLE, what


async def test_grpcurl_reaches_an_mtls_service_with_the_readme_flags(
    tmp_path: Path, certs: Path
) -> None:
    async with running_stack(tmp_path, certs=certs) as stack:
        flags = [
            "-cacert",
            str(certs / "ca.pem"),
            "-cert",
            str(certs / "client.pem"),
            "-key",
            str(certs / "client-key.pem"),
        ]

        async def run(*args: str) -> tuple[int, str]:
            proc = await asyncio.create_subprocess_exec(
                GRPCURL,
                *args,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            out, _ = await proc.communicate()
            return proc.returncode or 0, out.decode()

        code, out = await run(*flags, stack.orchestrator_addr, "list")
        assert code == 0, out
        assert "flightsaga.v1.Orchestrator" in out
        code, out = await run(
            *flags, stack.orchestrator_addr, "flightsaga.v1.Orchestrator/GetStats"
        )
        assert code == 0, out
        code, out = await run("-plaintext", stack.orchestrator_addr, "list")
        assert code != 0, out


# ---- tokens and roles -------------------------------------------------------------------------


async def test_roles_decide_who_may_call_what(
    tmp_path: Path, tokens: tuple[Path, dict[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    path, t = tokens
    async with running_stack(tmp_path, AUTH_TOKENS_FILE=str(path)) as stack:
        flight = await first_flight(stack)
        ann, bob, rita, ops = (stub(stack, t[n]) for n in ("ann", "bob", "rita", "ops"))
        nobody, forged = stub(stack, ""), stub(stack, "fs_not-a-real-token")

        stats = pb.GetStatsRequest()
        assert await code_of(nobody.GetStats(stats)) == grpc.StatusCode.UNAUTHENTICATED
        assert await code_of(forged.GetStats(stats)) == grpc.StatusCode.UNAUTHENTICATED
        assert await code_of(forged.BookFlight(book_request([flight]))) == (
            grpc.StatusCode.UNAUTHENTICATED
        )
        # A reader cannot book; a booker can, and its saga records it as the owner.
        assert await code_of(rita.BookFlight(book_request([flight]))) == (
            grpc.StatusCode.PERMISSION_DENIED
        )
        key = uuid.uuid4().hex
        saga = await ann.BookFlight(
            book_request([flight]), metadata=(("x-idempotency-key", key),), timeout=30
        )
        assert saga.status == pb.COMPLETED, saga.error
        assert saga.request.owner == "ann"
        # Another booker reusing ann's idempotency key does not get ann's saga.
        assert await code_of(
            bob.BookFlight(book_request([flight]), metadata=(("x-idempotency-key", key),))
        ) == (grpc.StatusCode.ALREADY_EXISTS)
        # A booker reads and lists its own sagas only.
        get = pb.GetSagaRequest(saga_id=saga.saga_id)
        assert (await ann.GetSaga(get)).saga_id == saga.saga_id
        assert await code_of(bob.GetSaga(get)) == grpc.StatusCode.PERMISSION_DENIED
        watch = [e async for e in ann.WatchSaga(pb.WatchSagaRequest(saga_id=saga.saga_id))]
        assert watch[-1].status == pb.COMPLETED
        with pytest.raises(grpc.aio.AioRpcError) as not_bobs:
            _ = [e async for e in bob.WatchSaga(pb.WatchSagaRequest(saga_id=saga.saga_id))]
        assert not_bobs.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert [s.saga_id for s in (await ann.ListSagas(pb.ListSagasRequest())).sagas] == [
            saga.saga_id
        ]
        assert (await bob.ListSagas(pb.ListSagasRequest())).total == 0
        mine = pb.ListSagasRequest(filter=pb.SagaFilter(customer_id="LOY-1001"))
        assert [s.saga_id for s in (await ann.ListSagas(mine)).sagas] == [saga.saga_id]
        assert (await bob.ListSagas(mine)).total == 0
        # A reader reads everything, changes nothing.
        assert (await rita.GetSaga(get)).saga_id == saga.saga_id
        assert (await rita.ListSagas(pb.ListSagasRequest())).total == 1
        assert (await rita.GetStats(stats)).completed == 1
        resume = pb.ResumeSagaRequest(saga_id=saga.saga_id)
        assert await code_of(rita.ResumeSaga(resume)) == grpc.StatusCode.PERMISSION_DENIED
        # Fault injection is the operator's.
        fail = (("x-fail-at", "payment"),)
        assert await code_of(ann.BookFlight(book_request([flight]), metadata=fail)) == (
            grpc.StatusCode.PERMISSION_DENIED
        )
        broken = await ops.BookFlight(book_request([flight]), metadata=fail, timeout=30)
        assert broken.status == pb.COMPENSATED
        # ResumeSaga: an operator gets the answer of the call itself (not PERMISSION_DENIED).
        assert await code_of(ops.ResumeSaga(resume)) == grpc.StatusCode.FAILED_PRECONDITION
        assert (await ops.GetStats(stats)).compensated == 1
    logged = caplog.text + files_text(tmp_path)
    for token in t.values():
        assert token not in logged


async def test_a_trip_is_owned_and_read_like_a_booking(
    tmp_path: Path, tokens: tuple[Path, dict[str, str]]
) -> None:
    """Another saga than the booking (StartSaga): its input's `owner` is the caller's name
    whatever the caller sent, and the roles decide who reads and starts it as for a booking."""
    path, t = tokens
    sagas = "sagas.booking,examples.trip"
    async with running_stack(tmp_path, AUTH_TOKENS_FILE=str(path), SAGAS=sagas) as stack:
        ann, bob, rita = (stub(stack, t[n]) for n in ("ann", "bob", "rita"))
        check_in = (datetime.now(UTC) + timedelta(days=20)).date().isoformat()
        start = pb.StartSagaRequest(saga="trip", request_id=uuid.uuid4().hex, wait=True)
        start.input.update(
            {"guest": "Ann", "city": "LIS", "check_in": check_in, "nights": 2, "owner": "bob"}
        )
        assert await code_of(rita.StartSaga(start)) == grpc.StatusCode.PERMISSION_DENIED
        trip = await ann.StartSaga(start, timeout=30)
        assert trip.status == pb.COMPLETED, trip.error
        assert json_format.MessageToDict(trip.input)["owner"] == "ann"  # not what was sent
        get = pb.GetSagaRequest(saga_id=trip.saga_id)
        assert (await ann.GetSaga(get)).saga_id == trip.saga_id
        assert await code_of(bob.GetSaga(get)) == grpc.StatusCode.PERMISSION_DENIED
        assert (await rita.GetSaga(get)).saga_id == trip.saga_id
        types = await ann.ListSagaTypes(pb.ListSagaTypesRequest())
        assert {t.name for t in types.sagas} == {"book_flight", "trip"}


async def test_the_cli_sends_the_token_and_the_client_certificate(
    tmp_path: Path, certs: Path, tokens: tuple[Path, dict[str, str]]
) -> None:
    path, t = tokens
    async with running_stack(tmp_path, certs=certs, AUTH_TOKENS_FILE=str(path)) as stack:
        flight = await first_flight(stack)
        env = {
            **os.environ,
            **tls_files(certs, "client"),
            "ORCHESTRATOR_ADDR": stack.orchestrator_addr,
            "SEAT_SERVICE_ADDR": stack.addrs["seat_service"],
        }
        env.pop("FLIGHTSAGA_TOKEN", None)

        async def cli(*args: str, token: str | None = None) -> tuple[int, str]:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "cli",
                *args,
                env={**env, **({"FLIGHTSAGA_TOKEN": token} if token else {})},
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            out, _ = await proc.communicate()
            return proc.returncode or 0, out.decode()

        code, out = await cli("stats")
        assert code == 4 and "UNAUTHENTICATED" in out, out
        code, out = await cli("book", "--flight", flight, "--json", token=t["ann"])
        assert code == 0 and '"COMPLETED"' in out, out
        code, out = await cli("--token", t["ann"], "stats")
        assert code == 4 and "PERMISSION_DENIED" in out, out
        code, out = await cli("stats", token=t["rita"])
        assert code == 0 and "completed" in out.lower(), out


async def test_fault_metadata_cannot_be_smuggled_to_a_participant_under_mtls(
    tmp_path: Path, certs: Path
) -> None:
    """A client certificate reaching a participant directly is refused on Do, whatever its
    metadata: only the orchestrator's certificate gets to Do (and so to its fault plan)."""
    async with running_stack(tmp_path, certs=certs) as stack:
        call = stack.seat.Do(
            seat_pb2.ReserveSeatsRequest(
                saga_id=uuid.uuid4().hex,
                flight_ids=[flight_id("FS101", 1)],
                cabin_class=common_pb2.ECONOMY,
            ),
            metadata=(("x-fail", "seat"),),
            timeout=5,
        )
        assert await code_of(call) == grpc.StatusCode.PERMISSION_DENIED


# ---- safe defaults ----------------------------------------------------------------------------


@pytest.mark.parametrize("service", ["seat_service", "orchestrator"])
async def test_a_service_refuses_plaintext_off_loopback(tmp_path: Path, service: str) -> None:
    """Started with no TLS on every interface (the default host), the process exits at once,
    naming what to set; nothing is bound (the check comes first)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TLS_", "ALLOW_"))}
    env.pop("LISTEN_ADDR", None)
    env.update(PORT="0", DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        service,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2, out.decode()
    assert "refusing to listen on 0.0.0.0:0 without TLS" in out.decode()
    assert "ALLOW_PLAINTEXT=1" in out.decode()


async def test_flightsaga_certs_makes_a_ca_and_certificates_with_the_names_asked(
    tmp_path: Path,
) -> None:
    from cryptography import x509

    out = tmp_path / "certs"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli",
        "certs",
        str(out),
        "--name",
        "seat_service",
        "--host",
        "seat.internal",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    printed, _ = await proc.communicate()
    assert proc.returncode == 0, printed.decode()
    assert sorted(p.name for p in out.iterdir()) == [
        "ca-key.pem",
        "ca.pem",
        "seat_service-key.pem",
        "seat_service.pem",
    ]
    assert oct((out / "ca-key.pem").stat().st_mode & 0o777) == "0o600"
    cert = x509.load_pem_x509_certificate((out / "seat_service.pem").read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    names = set(sans.get_values_for_type(x509.DNSName))
    assert {"seat_service", "seat", "localhost", "seat.internal"} <= names
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    # A second run adds to the same CA: the first certificates stay valid.
    ca_before = (out / "ca.pem").read_bytes()
    again = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli", "certs", str(out), "--name", "client"
    )
    assert await again.wait() == 0
    assert (out / "ca.pem").read_bytes() == ca_before
