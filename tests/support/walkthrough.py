"""docs/extending.md as steps a test can apply: its marked code blocks, read and applied to a
copy of the repository (the step verbs: `parse`).

Nothing in the page is run by a shell: the commands of a `run` block are read and done here.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

MARKER = re.compile(r"<!-- walkthrough: (?P<verb>[a-z]+)(?: (?P<path>[^ >]+))? -->")
FENCE = re.compile(r"^```[\w-]*\n(?P<text>.*?)^```[ \t]*$", re.S | re.M)
BLOCKS = {"create": 1, "edit": 2, "append": 1, "run": 1, "files": 0}
GENERATED = re.compile(r"_pb2(_grpc)?\.pyi?$")


class WalkthroughError(AssertionError):
    pass


@dataclass(frozen=True)
class Step:
    verb: str
    path: str  # relative to the repository's root; "" for run and files
    blocks: tuple[str, ...]  # each block's text, ending with a newline
    line: int  # where the marker is in the page (1-based), for messages

    def where(self) -> str:
        return f"docs/extending.md:{self.line} ({self.verb} {self.path})".rstrip()


@dataclass(frozen=True)
class Listed:
    """The page's table of files touched outside the new service's folder."""

    by_hand: frozenset[str]
    generated: frozenset[str]


def _safe(path: str, where: str) -> str:
    p = PurePosixPath(path)
    if not path or p.is_absolute() or ".." in p.parts:
        raise WalkthroughError(f"{where}: {path!r} is not a path inside the repository")
    return str(p)


def parse(text: str) -> list[Step]:
    """The page's steps, in order; each takes the code blocks between its marker and the next.

    Each step is an HTML comment `<!-- walkthrough: VERB [PATH] -->` followed by its code blocks:

        create PATH   1 block: the whole file
        edit PATH     2 blocks: text found exactly once in the file (without the block's last
                      newline), then its replacement
        append PATH   1 block: added at the end of the file, after two blank lines
        run           1 block of commands: `mkdir -p DIR...`, `cp SRC DEST`, `make proto`
        files         no block: the table after it lists every file touched outside the new
                      service's folder, `generated` in its second column for protoc's output"""
    markers = list(MARKER.finditer(text))
    steps = []
    for i, m in enumerate(markers):
        end = markers[i + 1].start() if i + 1 < len(markers) else len(text)
        verb, line = m["verb"], text.count("\n", 0, m.start()) + 1
        if verb not in BLOCKS:
            raise WalkthroughError(f"docs/extending.md:{line}: unknown step {verb!r}")
        needed = BLOCKS[verb]
        blocks = tuple(b["text"] for b in FENCE.finditer(text, m.end(), end))[:needed]
        step = Step(verb, m["path"] or "", blocks, line)
        if len(blocks) != needed:
            raise WalkthroughError(f"{step.where()}: needs {needed} code block(s)")
        if verb in ("create", "edit", "append"):
            _safe(step.path, step.where())
        steps.append(step)
    return steps


def listed(text: str) -> Listed:
    """The files table that follows the `files` marker."""
    m = MARKER.search(text)
    while m is not None and m["verb"] != "files":
        m = MARKER.search(text, m.end())
    if m is None:
        raise WalkthroughError("docs/extending.md has no `files` marker")
    by_hand, generated = set(), set()
    for row in text[m.end() :].lstrip("\n").splitlines():
        if not row.startswith("|"):
            break
        cells = [c.strip() for c in row.strip("|").split("|")]
        path = re.fullmatch(r"`([^`]+)`", cells[0])
        if path is None:
            continue  # the header and its rule
        (generated if "generated" in cells[1] else by_hand).add(path[1])
    return Listed(frozenset(by_hand), frozenset(generated))


def commands(step: Step) -> list[list[str]]:
    """A run block's commands, each checked to be one this module knows how to do."""
    out = []
    for raw in step.blocks[0].splitlines():
        if not raw.strip():
            continue
        argv = shlex.split(raw)
        ok = (
            (argv[:2] == ["mkdir", "-p"] and len(argv) > 2)
            or (argv[0] == "cp" and len(argv) == 3)
            or argv == ["make", "proto"]
        )
        if not ok:
            raise WalkthroughError(f"{step.where()}: cannot do {raw!r} (mkdir -p, cp, make proto)")
        for arg in argv[1:] if argv[0] != "make" else ():
            if arg != "-p":
                _safe(arg, step.where())
        out.append(argv)
    return out


def sources(steps: Iterable[Step]) -> set[str]:
    """The files of the repository the steps read (edited, appended to, copied)."""
    found = set()
    for step in steps:
        if step.verb in ("edit", "append"):
            found.add(step.path)
        elif step.verb == "run":
            found |= {argv[1] for argv in commands(step) if argv[0] == "cp"}
    return found


def apply(steps: Iterable[Step], root: Path, make_proto: Callable[[Path], None]) -> None:
    """Do every step in `root`, a copy of the repository; `make_proto(root)` generates code."""
    for step in steps:
        if step.verb == "files":
            continue
        if step.verb == "run":
            for argv in commands(step):
                if argv[0] == "mkdir":
                    for d in argv[2:]:
                        (root / d).mkdir(parents=True, exist_ok=True)
                elif argv[0] == "cp":
                    shutil.copyfile(root / argv[1], root / argv[2])
                else:
                    make_proto(root)
            continue
        target = root / step.path
        if step.verb == "create":
            if target.exists():
                raise WalkthroughError(f"{step.where()}: the file exists already")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(step.blocks[0])
            continue
        if not target.is_file():
            raise WalkthroughError(f"{step.where()}: no such file")
        text = target.read_text()
        if step.verb == "append":
            target.write_text(text.rstrip("\n") + "\n\n\n" + step.blocks[0])
            continue
        find, replace = (b.removesuffix("\n") for b in step.blocks)
        if text.count(find) != 1:
            raise WalkthroughError(
                f"{step.where()}: the text to find occurs {text.count(find)} times, not once:\n"
                f"{find}"
            )
        target.write_text(text.replace(find, replace))


def protoc(python: str, bin_dir: Path) -> Callable[[Path], None]:
    """`make proto` without make: the Makefile's proto target's protoc call, run in `root`
    with `python` (grpc_tools) and the mypy plugins of `bin_dir`. (make itself would first
    reinstall the venv for the copy's changed pyproject.toml, pointing it at the copy)."""

    def run(root: Path) -> None:
        protos = sorted(str(p.relative_to(root)) for p in root.glob("protos/flightsaga/v1/*.proto"))
        subprocess.run(
            [python, "-m", "grpc_tools.protoc", "-I", "protos",
             "--python_out=protos", "--grpc_python_out=protos",
             "--mypy_out=protos", "--mypy_grpc_out=protos", *protos],
            cwd=root, check=True, capture_output=True,
            env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"},
        )  # fmt: skip

    return run


def copy_tree(repo: Path, dest: Path) -> set[str]:
    """The repository's git-tracked files (as they are in its working tree) copied to `dest`;
    returns their paths."""
    listed_files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=repo, check=True, capture_output=True
    ).stdout.decode()
    copied = set()
    for rel in filter(None, listed_files.split("\0")):
        src = repo / rel
        if not src.is_file():
            continue  # deleted in the working tree
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / rel)
        copied.add(rel)
    return copied


CACHES = {"__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}


def touched(repo: Path, copy: Path, tracked: set[str]) -> set[str]:
    """Files of `copy` that are new or differ from the repository's."""
    found = set()
    for path in copy.rglob("*"):
        rel = path.relative_to(copy)
        if not path.is_file() or CACHES & set(rel.parts):
            continue
        name = str(rel)
        if name not in tracked or path.read_bytes() != (repo / name).read_bytes():
            found.add(name)
    return found
