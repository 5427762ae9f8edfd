"""`flightsaga up`'s guards: the data-folder lock, a taken port, whose socket answers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from launcher.datadir import lock_data_dir
from launcher.errors import NotStarted
from launcher.ports import owns_port, port_holder, port_taken


def test_a_second_lock_on_the_data_folder_names_the_holder(tmp_path: Path) -> None:
    with lock_data_dir(tmp_path / "data"):
        with pytest.raises(NotStarted, match=rf"data folder .*data is in use .*pid {os.getpid()}"):
            lock_data_dir(tmp_path / "data")
    lock_data_dir(tmp_path / "data").close()  # free again once the holder closed it


def test_a_listening_socket_is_taken_and_owned_by_its_process_only() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert port_taken(port)
        assert owns_port(os.getpid(), port)
        assert f"(pid {os.getpid()}," in port_holder(port)
        other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        try:
            assert not owns_port(other.pid, port)
        finally:
            other.kill()
            other.wait()
    assert not port_taken(port)
