"""Processes a bench round runs beside the stack: the relay (the orchestrator's gRPC calls and
nothing else) and a sink for the services' spans."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc

from launcher.ports import free_port
from sagas.peers import Addrs

REPO = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def otlp_sink() -> Iterator[str]:
    """A process receiving (and dropping) the services' spans; yields its OTLP endpoint."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bench.otlp_sink", str(port)], cwd=REPO)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


@contextlib.asynccontextmanager
async def relay_server(
    addrs: Addrs, module: str = "bench.relay", timeout: float = 30.0
) -> AsyncIterator[tuple[str, int]]:
    """`python -m bench.relay` (or `module`; this repository's code) on a free port, calling
    the stack's participants; yields its address and pid once it answers, stops it on exit."""
    port = free_port()
    participants = [addrs.seat, addrs.loyalty, addrs.payment, addrs.booking]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, str(port), *participants, cwd=REPO
    )
    addr = f"127.0.0.1:{port}"
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with grpc.aio.insecure_channel(addr) as channel:
            ready = asyncio.ensure_future(channel.channel_ready())
            try:
                while not ready.done():
                    if proc.returncode is not None:
                        raise RuntimeError(f"bench.relay exited with code {proc.returncode}")
                    if loop.time() > deadline:
                        raise RuntimeError(f"bench.relay did not answer on {addr} in {timeout} s")
                    await asyncio.wait({ready}, timeout=0.1)
            finally:
                ready.cancel()
        yield addr, proc.pid
    finally:
        if proc.returncode is None:
            proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()
