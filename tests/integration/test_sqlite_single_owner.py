"""SQLite is one process per file: a second orchestrator (or participant) on the same file is
refused at start, instead of driving every live saga a second time."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.procs import ServiceProcess, free_port


@pytest.mark.parametrize("service", ["orchestrator", "seat_service"])
async def test_a_second_process_on_the_same_sqlite_file_is_refused(
    tmp_path: Path, service: str
) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'shared.db'}"}
    first = ServiceProcess(service, free_port(), env, tmp_path / "first.log")
    first.start()
    try:
        await first.wait_healthy()
        assert first.proc is not None
        second = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", service],
            env={**env, "LISTEN_ADDR": f"127.0.0.1:{free_port()}"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert second.returncode == 2, second
        assert f"in use by pid {first.proc.pid}" in second.stderr, second.stderr
        assert "Traceback" not in second.stderr
    finally:
        first.stop()
    # Once the first is gone (even by kill -9: the kernel drops its lock), the file is free.
    again = ServiceProcess(service, free_port(), env, tmp_path / "again.log")
    again.start()
    try:
        await again.wait_healthy()
    finally:
        again.kill9()
