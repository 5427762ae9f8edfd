"""`flightsaga up` robustness: a taken port, a service that dies, Ctrl-C. Never an orphan.

Each test launches its own stack (no dashboard where it is not the point, to stay quick) and
identifies its service processes as the children of its own launcher's pid.
"""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import pytest

from tests.e2e.conftest import local_only
from tests.e2e.tools import BANNER, free_ports, launch, launch_until_up, wait_gone

pytestmark = [pytest.mark.e2e, local_only]


def test_taken_port_fails_fast_with_the_services_own_error(tmp_path: Path) -> None:
    base, dash = free_ports()
    seat_port = base + 1
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", seat_port))
        squatter.listen()
        up = launch(tmp_path, base_port=base, dashboard_port=dash)
        try:
            code = up.wait(timeout=60)
        finally:
            if up.proc.poll() is None:
                up.kill_all()
    out = up.output()
    assert code == 1, out
    assert BANNER not in out
    assert "seat failed to start" in out, out
    # The seat service's own words, not just the launcher's summary:
    assert f"seat_service: cannot listen on 127.0.0.1:{seat_port}" in out, out
    assert "All FlightSaga services were stopped." in out, out
    assert not strays(tmp_path), f"processes left running: {strays(tmp_path)}"
    # The other services had started (they got as far as listening) and were stopped.
    assert "loyalty_service listening on" in out and "loyalty_service stopping" in out, out


def strays(root: Path) -> list[str]:
    """Live processes whose command line or environment mentions our tmp dir (only ours do:
    the launcher passes it in --data-dir and every service gets it in DATABASE_URL)."""
    found = []
    for proc_dir in Path("/proc").iterdir():
        if not proc_dir.name.isdigit() or int(proc_dir.name) == os.getpid():
            continue
        try:
            blob = (proc_dir / "cmdline").read_bytes() + (proc_dir / "environ").read_bytes()
            state = (proc_dir / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if str(root).encode() in blob and state != "Z":
            argv = blob.split(b"\0")[:4]
            found.append(f"pid {proc_dir.name}: {argv}")
    return found


def test_a_killed_service_is_reported_and_its_siblings_stopped(tmp_path: Path) -> None:
    up = launch_until_up(tmp_path, dashboard=False)
    try:
        services = up.service_pids()
        assert set(services) == {"seat", "loyalty", "payment", "booking", "orchestrator"}
        os.kill(services["payment"].pid, signal.SIGKILL)
        code = up.wait(timeout=30)
    finally:
        if up.proc.poll() is None:
            up.kill_all()
    out = up.output()
    assert code == 1, out
    assert "error: payment exited unexpectedly (exit code -9); stopping the others" in out, out
    assert "All FlightSaga services stopped." in out, out
    left = wait_gone(up.children, timeout=5)
    assert not left, f"still running after the launcher exited: {left}"
    assert not strays(tmp_path), strays(tmp_path)
    for name in ("seat", "loyalty", "booking", "orchestrator"):
        module = "orchestrator" if name == "orchestrator" else f"{name}_service"
        assert f"{module} stopping" in out, f"{name} was not stopped gracefully:\n{out}"


def test_ctrl_c_stops_everything_and_exits_0(tmp_path: Path) -> None:
    up = launch_until_up(tmp_path)
    try:
        assert len(up.children) == 6, up.children  # with the dashboard
        code = up.stop(signal.SIGINT)
    finally:
        if up.proc.poll() is None:
            up.kill_all()
    out = up.output()
    assert code == 0, out
    assert "All FlightSaga services stopped." in out, out
    left = wait_gone(up.children, timeout=5)
    assert not left, f"orphans after Ctrl-C: {left}"
    assert not strays(tmp_path), strays(tmp_path)
