"""Named points in the code where a test can stop or hold a process, deterministically.

Off unless FLIGHTSAGA_TEST_HOOKS names a folder, which a service accepts only together with
FAULT_INJECTION=enabled (never in a production deployment). A test arms point P by writing
`stop` or `hang` to `<folder>/P`; the next time the process passes P it removes the file,
writes `<folder>/P.reached`, and then SIGSTOPs itself (`stop`) or blocks the passing thread
until `<folder>/P.release` exists (`hang`). The point `durable-write`, passed around each
durable write of a saga (durable_write), takes a plan instead: `record` (list every write in
`durable-write.log`), `kill after K` or `kill before K` (SIGKILL right after, or right before,
a saga's K-th write).
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sagakit.config import ConfigError

VAR = "FLIGHTSAGA_TEST_HOOKS"

DURABLE = "durable-write"

_folder: Path | None = None
# Durable writes so far, by saga (this process's: a restarted one counts afresh).
_written: dict[str, int] = {}


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


def enabled() -> bool:
    """Whether a test armed this process's hooks at all (one check when they are off)."""
    return _folder is not None


@dataclass(frozen=True)
class DurablePlan:
    """What the durable-write point does: record every write, or kill at one."""

    action: str  # "record" or "kill"
    when: str = ""  # "before" or "after"
    write: int = 0  # K: the saga's K-th durable write, from 1


def parse_plan(text: str) -> DurablePlan:
    """`record`, `kill after K` or `kill before K`; ValueError naming what is wrong."""
    words = text.split()
    if words == ["record"]:
        return DurablePlan("record")
    if len(words) == 3 and words[0] == "kill" and words[1] in ("after", "before"):
        if words[2].isdigit() and int(words[2]) >= 1:
            return DurablePlan("kill", words[1], int(words[2]))
    raise ValueError(
        f"{DURABLE}: expected `record`, `kill after K` or `kill before K` (K >= 1), got {text!r}"
    )


def durable_write(when: str, saga_id: str, events: Sequence[str]) -> None:
    """Pass a saga's durable write (`events`: what it logs), `before` or `after` its commit.
    Only while the hooks are armed (see enabled); `kill` is SIGKILL, no cleanup at all."""
    if _folder is None:
        return
    armed = _folder / DURABLE
    try:
        plan = parse_plan(armed.read_text())
    except FileNotFoundError:
        return
    nth = _written.get(saga_id, 0) + 1  # the write about to commit, or just committed
    if when == "after":
        _written[saga_id] = nth
    if plan.action == "record":
        if when == "after":
            line = json.dumps({"saga_id": saga_id, "write": nth, "events": list(events)})
            with (_folder / f"{DURABLE}.log").open("a") as f:
                f.write(line + "\n")
        return
    if when != plan.when or nth != plan.write:
        return
    armed.unlink()  # fired once: the restarted process must not kill itself again
    reached = {"saga_id": saga_id, "when": when, "write": plan.write, "events": list(events)}
    (_folder / f"{DURABLE}.reached").write_text(json.dumps(reached))
    os.kill(os.getpid(), signal.SIGKILL)
