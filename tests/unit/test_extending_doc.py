"""docs/extending.md applies to the repository as it is now: each step finds its file (or its
place free), each text to find occurs once, and its table lists every file the steps touch
outside the new service's folder. tests/e2e/test_extending_walkthrough.py runs the result."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support import walkthrough

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "extending.md"
SERVICE = "insurance_service/"


def test_the_walkthrough_applies_to_this_repository_and_lists_what_it_touches(
    tmp_path: Path,
) -> None:
    text = DOC.read_text()
    steps = walkthrough.parse(text)
    for rel in walkthrough.sources(steps):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / rel, tmp_path / rel)
    generated: list[Path] = []
    walkthrough.apply(steps, tmp_path, generated.append)
    assert generated == [tmp_path], "the page generates the code from its proto once"

    changed = {
        str(p.relative_to(tmp_path))
        for p in tmp_path.rglob("*")
        if p.is_file()
        and (
            not (ROOT / p.relative_to(tmp_path)).exists()
            or (ROOT / p.relative_to(tmp_path)).read_bytes() != p.read_bytes()
        )
    }
    listed = walkthrough.listed(text)
    assert {rel for rel in changed if not rel.startswith(SERVICE)} == listed.by_hand
    assert len(listed.by_hand) <= 6
    protos = {rel for rel in listed.by_hand if rel.endswith(".proto")}
    assert listed.generated == {
        rel.removesuffix(".proto") + suffix
        for rel in protos
        for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")
    }
    assert not any(rel.startswith(SERVICE) for rel in listed.by_hand | listed.generated)


def test_each_step_takes_its_blocks_and_refuses_what_it_cannot_do() -> None:
    page = (
        "<!-- walkthrough: edit a.py -->\n```python\nx = 1\n```\nbecomes\n```python\nx = 2\n```\n"
        "<!-- walkthrough: run -->\n```console\nrm -rf /\n```\n"
    )
    edit, run = walkthrough.parse(page)
    assert (edit.verb, edit.path, edit.blocks) == ("edit", "a.py", ("x = 1\n", "x = 2\n"))
    with pytest.raises(walkthrough.WalkthroughError, match="cannot do 'rm -rf /'"):
        walkthrough.commands(run)
    with pytest.raises(walkthrough.WalkthroughError, match="not a path inside the repository"):
        walkthrough.parse("<!-- walkthrough: create ../x.py -->\n```python\n```\n")
