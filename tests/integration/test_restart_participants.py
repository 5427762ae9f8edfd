"""Durability: each participant as a real process, killed with SIGKILL mid-life, restarted on
the same database file; every committed record, and the barrier, must still be there."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.support.participants import CASES, Case

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def service_process(
    case: Case, db: Path, port: int
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`python -m <service>` on 127.0.0.1:<port>; yields once it reports SERVING."""
    log_path = db.with_suffix(".log")
    log = log_path.open("ab")  # a file, not a pipe nobody drains
    env = {
        **os.environ,
        "LISTEN_ADDR": f"127.0.0.1:{port}",
        "DATABASE_URL": f"sqlite:///{db}",
        "FAULT_INJECTION": "enabled",
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "protos")]),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        case.service,
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=log,
    )
    try:
        await _wait_serving(f"127.0.0.1:{port}", proc, log_path)
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
        log.close()


async def _wait_serving(addr: str, proc: asyncio.subprocess.Process, log: Path) -> None:
    async with grpc.aio.insecure_channel(addr) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for _ in range(200):
            if proc.returncode is not None:
                output = await asyncio.to_thread(log.read_text)
                pytest.fail(f"service exited with {proc.returncode}: {output}")
            try:
                reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=0.5)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass
            await asyncio.sleep(0.05)
    pytest.fail(f"{addr} never became SERVING")


async def snapshot(stub: Any, case: Case, sagas: list[str]) -> list[Any]:
    return [await case.records(stub, s) for s in sagas] + [await case.business(stub, sagas[0])]


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_records_survive_sigkill_and_restart(tmp_path: Path, case: Case) -> None:
    db = tmp_path / f"{case.service}.db"
    port = free_port()
    sagas = ["r1", "r2", "r3", "never-ran"]

    async with service_process(case, db, port) as proc:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = case.stub(channel)
            first = [await stub.Do(case.do_request(s, i)) for i, s in enumerate(sagas[:3])]
            await stub.Compensate(case.compensate_request("r2"))
            await stub.Compensate(case.compensate_request("never-ran"))  # null mark
            before = await snapshot(stub, case, sagas)
        proc.send_signal(signal.SIGKILL)  # no graceful stop: whatever was acknowledged must stay
        await proc.wait()

    async with service_process(case, db, port):
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = case.stub(channel)
            assert await snapshot(stub, case, sagas) == before
            # The barrier survived too: a replay answers as before, a late Do is refused.
            assert await stub.Do(case.do_request("r1", 7)) == first[0]
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stub.Do(case.do_request("never-ran", 0))
            assert info.value.code() == grpc.StatusCode.ABORTED
