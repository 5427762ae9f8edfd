"""`flightsaga up` robustness: a taken port, a data folder in use, free ports, a service that
dies, Ctrl-C. Never an orphan, never "FlightSaga is up" for another stack.

Each test launches its own stack (no dashboard where it is not the point, to stay quick) and
identifies its service processes as the children of its own launcher's pid.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import local_only
from tests.e2e.tools import (
    BANNER,
    BIN,
    REPO,
    SERVICES,
    free_ports,
    launch,
    launch_until_up,
    wait_gone,
)

pytestmark = [pytest.mark.e2e, local_only]


def test_taken_port_is_refused_before_anything_starts(tmp_path: Path) -> None:
    base, dash = free_ports()
    seat_port = base + 1
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", seat_port))
        squatter.listen()
        up = launch(tmp_path, base_port=base, dashboard_port=dash)
        try:
            code = up.wait(timeout=20)
        finally:
            if up.proc.poll() is None:
                up.kill_all()
    out = up.output()
    assert code == 1, out
    assert BANNER not in out
    # Says which port, for which service, and who holds it (this test process).
    assert f"127.0.0.1:{seat_port} (seat) is already in use (pid {os.getpid()}," in out, out
    assert "--free-ports" in out, out
    assert "Nothing was started." in out, out
    assert "listening on" not in out, f"a service was spawned:\n{out}"
    assert not strays(tmp_path), f"processes left running: {strays(tmp_path)}"


def test_a_second_up_on_the_same_data_folder_is_refused_at_once(tmp_path: Path) -> None:
    first = launch_until_up(tmp_path / "first", dashboard=False)
    try:
        logs = {f.name: f.read_bytes() for f in first.log_dir.iterdir()}
        assert logs, "the first stack wrote no logs"
        # Another `up` on the same data (and log) folder, on other (free) ports.
        started = time.monotonic()
        second = launch(
            tmp_path / "second",
            dashboard=False,
            extra=["--data-dir", str(first.data_dir), "--log-dir", str(first.log_dir)],
        )
        code = second.wait(timeout=20)
        took = time.monotonic() - started
        out = second.output()
        assert code != 0, out
        assert took < 10, f"took {took:.1f}s to refuse:\n{out}"
        assert BANNER not in out
        assert f"the data folder {first.data_dir.resolve()} is in use" in out, out
        assert f"pid {first.proc.pid}" in out, out
        assert "Nothing was started." in out, out
        # The first stack's logs: the same files, each only grown by the first stack itself.
        after = {f.name: f.read_bytes() for f in first.log_dir.iterdir()}
        assert set(after) == set(logs), (set(after), set(logs))
        for name, before in logs.items():
            assert after[name].startswith(before), name
            assert b"in use" not in after[name] and b"Nothing was started" not in after[name]
        assert first.proc.poll() is None, "the first stack stopped"
        assert set(first.service_pids()) == set(SERVICES)
    finally:
        code = first.stop(signal.SIGINT)
    assert code == 0, first.output()


def test_a_second_up_on_the_same_ports_says_the_port_is_taken(tmp_path: Path) -> None:
    first = launch_until_up(tmp_path / "first", dashboard=False)
    try:
        second = launch(
            tmp_path / "second",
            base_port=first.base_port,
            dashboard_port=first.dashboard_port,
            dashboard=False,
        )
        code = second.wait(timeout=20)
        out = second.output()
        assert code == 1, out
        assert BANNER not in out, out
        assert f"127.0.0.1:{first.base_port} (orchestrator) is already in use" in out, out
        holders = {p.pid for p in first.service_pids().values()}
        assert any(f"(pid {pid}," in out for pid in holders), out
        assert "Nothing was started." in out, out
        assert first.proc.poll() is None, "the first stack stopped"
    finally:
        code = first.stop(signal.SIGINT)
    assert code == 0, first.output()


def test_free_ports_come_up_and_the_printed_hints_work(tmp_path: Path) -> None:
    up = launch(tmp_path, free_ports_flag=True)
    try:
        assert up.wait_for(BANNER), up.output()
        up.children = list(up.service_pids().values())
        out = up.output()
        chosen = re.search(
            r"--free-ports: orchestrator on 127\.0\.0\.1:(\d+), participants on (\d+)-(\d+), "
            r"dashboard on 127\.0\.0\.1:(\d+)",
            out,
        )
        assert chosen, out
        base, dash = int(chosen[1]), int(chosen[4])
        assert (int(chosen[2]), int(chosen[3])) == (base + 1, base + 4)
        for i, name in enumerate(SERVICES):
            assert f"{name:<13}127.0.0.1:{base + i}" in out, out
        assert f"dashboard    http://127.0.0.1:{dash}" in out, out
        # The banner's commands, as printed, from the repo root.
        hints = [line.strip() for line in out.split("Try:", 1)[1].splitlines()[1:4]]
        book, _, grpcurl = hints
        assert f"ORCHESTRATOR_ADDR=127.0.0.1:{base}" in book, hints
        env = {k: v for k, v in os.environ.items() if not k.endswith("_ADDR")}
        for hint, expect in ((book, ""), (grpcurl, "flightsaga.v1.Orchestrator")):
            command = hint.replace(".venv/bin/", f"{BIN}/")
            done = subprocess.run(
                ["bash", "-c", command], cwd=REPO, env=env, capture_output=True, text=True,
                timeout=60, check=False,
            )  # fmt: skip
            assert done.returncode == 0, f"$ {command}\n{done.stdout}\n{done.stderr}"
            assert expect in done.stdout, done.stdout
        code = up.stop(signal.SIGINT)
    finally:
        if up.proc.poll() is None:
            up.kill_all()
    assert code == 0, up.output()
    assert not wait_gone(up.children, timeout=5)


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
