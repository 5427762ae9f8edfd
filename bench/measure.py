"""One measured level: n operations at a fixed concurrency, timed and checked one by one."""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

from bench.procstats import cpu_seconds, peak_rss_kb, self_cpu_seconds
from bench.workload import Operation, Problem, describe

CLIENT = "bench_client"
MAX_SAMPLES = 5


def percentile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100) of already sorted values."""
    if not sorted_values:
        return float("nan")
    k = (len(sorted_values) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


@dataclass
class Level:
    mode: str
    concurrency: int
    n: int
    ok: int = 0
    errors: int = 0  # RPC errors and exceptions
    unexpected: int = 0  # answered, but not the expected outcome
    samples: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    cpu_s: dict[str, float] = field(default_factory=dict)

    @property
    def failed(self) -> int:
        return self.errors + self.unexpected

    def to_json(self) -> dict[str, Any]:
        lat = sorted(self.latencies_ms)
        done = max(1, self.n)
        return {
            "mode": self.mode,
            "concurrency": self.concurrency,
            "n": self.n,
            "ok": self.ok,
            "errors": self.errors,
            "unexpected": self.unexpected,
            "problem_samples": self.samples,
            "wall_s": round(self.wall_s, 4),
            "throughput_per_s": round(self.n / self.wall_s, 2) if self.wall_s else 0.0,
            "latency_ms": {
                "p50": round(percentile(lat, 50), 3),
                "p95": round(percentile(lat, 95), 3),
                "p99": round(percentile(lat, 99), 3),
                "mean": round(statistics.fmean(lat), 3) if lat else float("nan"),
                "max": round(lat[-1], 3) if lat else float("nan"),
            },
            "cpu_ms_per_op": {k: round(v * 1000 / done, 3) for k, v in self.cpu_s.items()},
            "cpu_ms_per_op_services": round(
                sum(v for k, v in self.cpu_s.items() if k != CLIENT) * 1000 / done, 3
            ),
        }


class Progress:
    """A one-line progress bar on a terminal; silent otherwise (the table says it all)."""

    def __init__(self, label: str, total: int, out: TextIO = sys.stderr, width: int = 30) -> None:
        self.label = label
        self.total = total
        self.out = out
        self.width = width
        self.tty = out.isatty()
        self._start = time.perf_counter()
        self._last = 0.0

    def update(self, done: int, failed: int, force: bool = False) -> None:
        if not self.tty:
            return
        now = time.perf_counter()
        if not force and now - self._last < 0.1 and done < self.total:
            return
        self._last = now
        filled = self.width * done // max(1, self.total)
        rate = done / max(1e-9, now - self._start)
        bad = f"  {failed} FAILED" if failed else ""
        bar = "#" * filled + "-" * (self.width - filled)
        self.out.write(f"\r  {self.label:<22} [{bar}] {done:>5}/{self.total} {rate:7.1f}/s{bad}  ")
        self.out.flush()

    def close(self) -> None:
        if self.tty:
            self.out.write("\r" + " " * (self.width + 60) + "\r")
            self.out.flush()


async def run_level(
    mode: str,
    operation: Operation,
    n: int,
    concurrency: int,
    pids: dict[str, int],
    progress: bool = True,
) -> Level:
    """Run `operation` n times with `concurrency` workers; CPU of each process around it."""
    level = Level(mode, concurrency, n)
    bar = Progress(f"{mode} c={concurrency}", n) if progress else None
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            t0 = time.perf_counter()
            try:
                await operation(i)
            except Problem as exc:
                level.unexpected += 1
                if len(level.samples) < MAX_SAMPLES:
                    level.samples.append(f"unexpected: {exc}")
            except Exception as exc:
                level.errors += 1
                if len(level.samples) < MAX_SAMPLES:
                    level.samples.append(f"error: {describe(exc)}")
            else:
                level.ok += 1
                level.latencies_ms.append((time.perf_counter() - t0) * 1000)
            if bar is not None:
                bar.update(level.ok + level.failed, level.failed)

    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    client_before = self_cpu_seconds()
    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(concurrency, n))))
    level.wall_s = time.perf_counter() - start
    level.cpu_s[CLIENT] = self_cpu_seconds() - client_before
    for name, pid in pids.items():
        b, a = before[name], cpu_seconds(pid)
        if a is not None and b is not None:
            level.cpu_s[name] = a - b
    if bar is not None:
        bar.update(level.ok + level.failed, level.failed, force=True)
        bar.close()
    return level


def peak_rss(pids: dict[str, int]) -> dict[str, int]:
    out = {}
    for name, pid in pids.items():
        kb = peak_rss_kb(pid)
        if kb is not None:
            out[name] = kb
    return out
