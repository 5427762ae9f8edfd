"""CPU time and peak memory of a process, read from /proc (Linux)."""

from __future__ import annotations

import os
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """CPU seconds of the process (all its threads) and of its children, or None if it cannot
    be read: its utime + stime, its reaped children's (cutime + cstime), and its live
    children's. A service has no children; a PostgreSQL server's work is in its children (one
    backend per connection, the WAL writer, the checkpointer, ...)."""
    own = _stat(pid)
    if own is None:
        return None
    utime, stime, cutime, cstime = own
    total = utime + stime + cutime + cstime
    for child in _children(pid):
        sub = cpu_seconds(child)
        if sub is not None:
            total += round(sub * _TICKS)
    return total / _TICKS


def _stat(pid: int) -> tuple[int, int, int, int] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    fields = raw[raw.rindex(")") + 2 :].split()
    # utime, stime, cutime, cstime: fields 14 to 17 of proc(5)
    return int(fields[11]), int(fields[12]), int(fields[13]), int(fields[14])


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        return []


def peak_rss_kb(pid: int) -> int | None:
    """VmHWM: the process's peak resident set size in kB, or None if it cannot be read."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def self_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system
