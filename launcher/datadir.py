"""One `flightsaga up` per data folder: an exclusive lock on it, held for the run."""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from typing import IO

from launcher.errors import NotStarted

LOCK_NAME = "up.lock"


def lock_data_dir(data_dir: Path) -> IO[str]:
    """An exclusive flock on `<data_dir>/up.lock`, held until the returned file is closed (or
    this process dies, even by kill -9); NotStarted naming the holder's pid when another process
    holds it. Nothing else in the folder is touched."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / LOCK_NAME
    f = path.open("a+", encoding="utf-8")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = ""
        for _ in range(20):  # the holder may be between truncating and writing its pid
            f.seek(0)
            holder = f.read().strip()
            if holder:
                break
            time.sleep(0.05)
        f.close()
        raise NotStarted(
            f"the data folder {data_dir} is in use by another `flightsaga up` "
            f"(pid {holder or 'unknown'}, lock {path}). Stop that one first, or give this one "
            "another --data-dir."
        ) from None
    f.seek(0)
    f.truncate()
    f.write(f"{os.getpid()}\n")
    f.flush()
    return f
