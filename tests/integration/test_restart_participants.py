"""Durability: each participant as a real process, killed with SIGKILL mid-life, restarted on
the same database file; every committed record, and the barrier, must still be there."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.support.participants import CASES, Case
from tests.support.procs import ServiceProcess, free_port


@contextmanager
def service_process(case: Case, db: Path, port: int) -> Iterator[ServiceProcess]:
    """`python -m <service>` on 127.0.0.1:<port> with its own SQLite file."""
    env = {"DATABASE_URL": f"sqlite:///{db}", "FAULT_INJECTION": "enabled"}
    proc = ServiceProcess(case.service, port, env, db.with_suffix(".log"))
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


async def snapshot(stub: Any, case: Case, sagas: list[str]) -> list[Any]:
    return [await case.records(stub, s) for s in sagas] + [await case.business(stub, sagas[0])]


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_records_survive_sigkill_and_restart(tmp_path: Path, case: Case) -> None:
    db = tmp_path / f"{case.service}.db"
    port = free_port()
    sagas = ["r1", "r2", "r3", "never-ran"]

    with service_process(case, db, port) as proc:
        await proc.wait_healthy()
        async with grpc.aio.insecure_channel(proc.addr) as channel:
            stub = case.stub(channel)
            first = [await stub.Do(case.do_request(s, i)) for i, s in enumerate(sagas[:3])]
            await stub.Compensate(case.compensate_request("r2"))
            await stub.Compensate(case.compensate_request("never-ran"))  # null mark
            before = await snapshot(stub, case, sagas)
        proc.kill9()  # no graceful stop: whatever was acknowledged must stay

    with service_process(case, db, port) as proc:
        await proc.wait_healthy()
        async with grpc.aio.insecure_channel(proc.addr) as channel:
            stub = case.stub(channel)
            assert await snapshot(stub, case, sagas) == before
            # The barrier survived too: a replay answers as before, a late Do is refused.
            assert await stub.Do(case.do_request("r1", 0)) == first[0]
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stub.Do(case.do_request("never-ran", 0))
            assert info.value.code() == grpc.StatusCode.ABORTED
