"""Sampling profiles of the services while the benchmark runs (py-spy, collapsed stacks)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import re
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).exists():
        raise RuntimeError("py-spy is not installed: pip install -e '.[dev]'")
    return found


@contextlib.asynccontextmanager
async def profiling(pids: dict[str, int], out_dir: Path, rate: int = 200) -> AsyncIterator[None]:
    """py-spy record on every service for the duration of the block: <out_dir>/<name>.txt."""
    await asyncio.to_thread(out_dir.mkdir, parents=True, exist_ok=True)
    exe = py_spy()
    procs = []
    for name, pid in pids.items():
        procs.append(
            await asyncio.create_subprocess_exec(
                exe,
                "record",
                "--pid",
                str(pid),
                "--rate",
                str(rate),
                "--format",
                "raw",
                "--nonblocking",
                "--output",
                str(out_dir / f"{name}.txt"),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
        )
    await asyncio.sleep(1.0)  # let py-spy attach
    try:
        yield
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        await asyncio.gather(*(p.wait() for p in procs))


def top(collapsed: Path, limit: int = 25) -> list[tuple[float, float, str]]:
    """(inclusive %, self %, function) of the busiest functions in a collapsed-stack file."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        for f in set(frames):
            inclusive[f] += n
        own[frames[-1]] += n
    if not total:
        return []
    return [
        (100 * n / total, 100 * own[f] / total, f)
        for f, n in inclusive.most_common()
        if not re.search(r"\((threading|asyncio/|<frozen|selectors|concurrent/)", f)
    ][:limit]
