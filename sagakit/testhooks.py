"""Named points in the code where a test can stop or hold a process, deterministically.

Off unless FLIGHTSAGA_TEST_HOOKS names a folder, which a service accepts only together with
FAULT_INJECTION=enabled (never in a production deployment). A test arms point P by writing
`stop` or `hang` to `<folder>/P`; the next time the process passes P it removes the file,
writes `<folder>/P.reached`, and then SIGSTOPs itself (`stop`) or blocks the passing thread
until `<folder>/P.release` exists (`hang`).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Mapping
from pathlib import Path

from sagakit.config import ConfigError

VAR = "FLIGHTSAGA_TEST_HOOKS"

_folder: Path | None = None


def folder_from_env(environ: Mapping[str, str], fault_injection: bool) -> Path | None:
    """The hooks' folder, or None; refused (ConfigError) outside a test set-up."""
    value = environ.get(VAR, "").strip()
    if not value:
        return None
    if not fault_injection:
        raise ConfigError(f"{VAR} is for tests only: it needs FAULT_INJECTION=enabled as well")
    folder = Path(value)
    if not folder.is_dir():
        raise ConfigError(f"{VAR} must name an existing folder, got {value!r}")
    return folder


def arm(folder: Path | None) -> None:
    global _folder
    _folder = folder


def point(name: str) -> None:
    """Pass the point `name`: nothing unless a test armed it."""
    if _folder is None:
        return
    armed = _folder / name
    try:
        action = armed.read_text().strip()
        armed.unlink()
    except FileNotFoundError:
        return
    (_folder / f"{name}.reached").write_text(str(os.getpid()))
    if action == "stop":
        os.kill(os.getpid(), signal.SIGSTOP)
        return
    release = _folder / f"{name}.release"
    while not release.exists():
        time.sleep(0.01)
