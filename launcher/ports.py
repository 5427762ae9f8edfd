"""Ports on 127.0.0.1 for a local stack: free runs of them, and who holds one (/proc)."""

from __future__ import annotations

import contextlib
import os
import random
import socket
from collections.abc import Collection
from pathlib import Path

HOST = "127.0.0.1"


def _listening_inodes(port: int) -> set[str] | None:
    """Socket inodes listening on `port` (any address), from /proc/net/tcp{,6}; None without
    /proc (not Linux): ownership cannot be checked there."""
    inodes: set[str] = set()
    found_table = False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        found_table = True
        for line in lines:
            cols = line.split()
            # local_address is ADDR:PORT in hex; state 0A is LISTEN; column 9 the inode.
            if len(cols) > 9 and cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(cols[9])
    return inodes if found_table else None


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    return inodes


def owns_port(pid: int, port: int) -> bool:
    """Whether process `pid` holds the socket listening on `port` (True where /proc cannot
    tell)."""
    listening = _listening_inodes(port)
    if listening is None:
        return True
    return bool(listening & _socket_inodes(pid))


def port_holder(port: int) -> str:
    """' (pid N, NAME)' for the process listening on `port`, or '' when it cannot be told."""
    listening = _listening_inodes(port)
    if not listening:
        return ""
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and listening & _socket_inodes(int(proc.name)):
            try:
                name = (proc / "comm").read_text().strip()
            except OSError:
                name = "?"
            return f" (pid {proc.name}, {name})"
    return ""


def port_taken(port: int) -> bool:
    """Whether something listens on 127.0.0.1:`port` (SO_REUSEADDR, as the services bind: a
    port in TIME_WAIT after a stop counts as free)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return True
    return False


def _below_ephemeral() -> range:
    """Ports below the kernel's range for outgoing connections' source ports: a port found free
    there stays free (in the ephemeral range any client may take it a moment later)."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return range(10000, max(low, 10010) - 5)


def free_base_port(attempts: int = 200, avoid: Collection[int] = (), count: int = 5) -> int:
    """A port p with p..p+count-1 all free on 127.0.0.1 now (not reserved), none in `avoid`:
    the orchestrator's and the participants'; below the ephemeral range when possible."""
    rng = random.Random()
    pool = _below_ephemeral()
    for _ in range(attempts):
        ports = range(base := rng.choice(pool), base + count)
        if not set(ports) & set(avoid) and not any(port_taken(p) for p in ports):
            return base
    for _ in range(50):  # fallback: whatever the kernel hands out
        with socket.socket() as s:
            s.bind((HOST, 0))
            base = int(s.getsockname()[1])
        ports = range(base, base + count)
        if base + count - 1 <= 65535 and not set(ports) & set(avoid):
            if not any(port_taken(p) for p in ports):
                return base
    raise RuntimeError(f"no run of {count} free ports found on 127.0.0.1")


def free_port(avoid: Collection[int] = ()) -> int:
    """A port free on 127.0.0.1 now (not reserved), not in `avoid`."""
    return free_base_port(avoid=avoid)  # the first of five free ones will do
