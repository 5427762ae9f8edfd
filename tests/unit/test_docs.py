"""The documentation against the code, with no stack: README.md and docs/*.md.

- every `console` block (an illustration, not run by tests/e2e/test_readme.py) says why it is
  not run, in an HTML comment on the line before it: `<!-- not run: reason -->` (or
  `<!-- walkthrough: run -->`: docs/extending.md's steps, run by test_extending_walkthrough);
- every relative link (`](path)`, `](path#anchor)`, `](#anchor)`) resolves: the file exists in
  the repository, and a markdown anchor is one of the target page's headings;
- docs/configuration.md lists exactly the environment variables the code reads (see
  `variables_read`, and `test_configuration_lists_every_variable_the_code_reads`);
- docs/architecture.md's code map names every top-level folder;
- docs/api.md has a grpcurl example of every RPC of protos/flightsaga/v1 and lists every
  ErrorInfo reason of sagakit.errors.Reason;
- the README stays short and keeps the two set-up commands the Makefile implements.
"""

from __future__ import annotations

import ast
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
DOCS = REPO / "docs"
PAGES = [README, *sorted(DOCS.glob("*.md"))]
CONFIGURATION = DOCS / "configuration.md"

FENCE = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*?)\s*$")
# why a block is not run here; `walkthrough: run` blocks are run by test_extending_walkthrough
NOT_RUN = re.compile(r"^<!-- (not run: \S.*|walkthrough: run) -->$")
LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")
SHELL_INFOS = {"console", "bash", "shell", "shell-session", "zsh"}


def rel(path: Path) -> str:
    return str(path.relative_to(REPO))


def blocks(markdown: str) -> Iterator[tuple[int, str, list[str]]]:
    """(line of the opening fence, info string, lines before it) of every fenced block."""
    lines = markdown.splitlines()
    fence: str | None = None
    for number, line in enumerate(lines, 1):
        match = FENCE.match(line)
        if fence is None:
            if match:
                fence = match["fence"]
                yield number, match["info"], lines[: number - 1]
        elif match and match["fence"][0] == fence[0] and len(match["fence"]) >= len(fence):
            if match["info"] == "":
                fence = None


def outside_code(markdown: str) -> Iterator[tuple[int, str]]:
    """The lines that are prose (not inside a fenced block), numbered."""
    fence: str | None = None
    for number, line in enumerate(markdown.splitlines(), 1):
        match = FENCE.match(line)
        if fence is None and match:
            fence = match["fence"]
        elif fence is not None and match and match["fence"][0] == fence[0] and not match["info"]:
            fence = None
        elif fence is None:
            yield number, line


@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_console_blocks_say_why_they_are_not_run(page: Path) -> None:
    unmarked = []
    for number, info, before in blocks(page.read_text()):
        if info not in SHELL_INFOS:
            continue
        previous = next((line.strip() for line in reversed(before) if line.strip()), "")
        if not NOT_RUN.match(previous):
            unmarked.append(
                f"{rel(page)}:{number}: a ```{info} block without <!-- not run: ... -->"
            )
    assert not unmarked, "\n".join(unmarked)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|<[^>]*>", "", heading.strip().lower())
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found: set[str] = set()
    for _, line in outside_code(page.read_text()):
        if line.startswith("#"):
            found.add(slug(line.lstrip("#")))
    return found


@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for number, line in outside_code(page.read_text()):
        for match in LINK.finditer(line):
            target = match["target"]
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                continue
            path, _, anchor = target.partition("#")
            where = (page.parent / path).resolve() if path else page
            if not where.exists() or REPO not in (where, *where.parents):
                broken.append(f"{rel(page)}:{number}: {target}: no such file")
            elif anchor and where.suffix == ".md" and anchor not in anchors(where):
                broken.append(f"{rel(page)}:{number}: {target}: no heading #{anchor}")
    assert not broken, "\n".join(broken)


# --- docs/configuration.md against the code -------------------------------------------------

NAME = re.compile(r"^[A-Z][A-Z0-9_]*[A-Z0-9]$")
ENV_OBJECTS = {"environ", "env", "environment"}
SKIPPED_TOP = {"tests", "build", "dist", "node_modules"}


def _is_environment(node: ast.expr) -> bool:
    """`os.environ`, `environ`, `env` (the helpers' Mapping argument), `self.env`..."""
    if isinstance(node, ast.Name):
        return node.id in ENV_OBJECTS
    if isinstance(node, ast.Attribute):
        return node.attr in ENV_OBJECTS
    return False


def _reads(call: ast.Call) -> bool:
    """A call that reads one variable, named by its first argument."""
    func = call.func
    name = ""
    if isinstance(func, ast.Name):
        name = func.id
    elif isinstance(func, ast.Attribute):
        name = func.attr
    if name.startswith("env_") or name == "getenv":  # sagakit.config's env_* helpers, os.getenv
        return True
    return (
        name in ("get", "pop", "setdefault")
        and isinstance(func, ast.Attribute)
        and (_is_environment(func.value))
    )


def _strings(node: ast.expr, constants: dict[str, list[str]]) -> list[str]:
    """The string values an argument may hold: a literal, or a name bound to literals."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Name):
        return constants.get(node.id, [])
    if isinstance(node, ast.Attribute):
        return constants.get(node.attr, [])
    return []


def _constants(tree: ast.Module) -> dict[str, list[str]]:
    """Names bound to string literals anywhere in a module: `VAR = "X"`, `A, B = "X", "Y"`, and
    loop variables over literals (`for var in ("X", "Y")`, comprehensions too)."""
    bound: dict[str, list[str]] = {}

    def bind(target: ast.expr, value: ast.expr) -> None:
        if isinstance(target, ast.Name):
            bound.setdefault(target.id, []).extend(_strings(value, bound))
        elif isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple):
            for t, v in zip(target.elts, value.elts, strict=False):
                bind(t, v)

    def bind_loop(target: ast.expr, iterable: ast.expr) -> None:
        if isinstance(target, ast.Name) and isinstance(iterable, ast.Tuple | ast.List):
            for element in iterable.elts:
                bound.setdefault(target.id, []).extend(_strings(element, bound))

    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                bind(target, node.value)
        elif isinstance(node, ast.For | ast.AsyncFor | ast.comprehension):
            bind_loop(node.target, node.iter)
    return bound


def variables_read(root: Path = REPO) -> dict[str, set[str]]:
    """Every environment variable the code reads, with the files that read it.

    The rule: every Python file of the repository except tests/ (the suite's own switches are in
    docs/testing.md) and generated protobuf modules is parsed, and a variable is read where
    - a call's first argument names it: sagakit.config's `env_*` helpers (env_str, env_int,
      env_float, env_addr, env_choice, env_duration, env_bool, ... whatever their name after
      `env_`), `os.getenv`, or `.get` / `.pop` / `.setdefault` on `os.environ` or on a mapping
      called `environ`, `env` or `environment` (the helpers' and `from_env` methods' argument:
      ServiceConfig, RetentionConfig, TlsConfig, Tokens, ...);
    - or a subscript reads it: `environ["X"]`, `env["X"]`;
    - or a service declaration names it: the address variable (`..._ADDR`) a `Service(...)` or
      `Participant(...)` (sagas.declare) passes, which its clients read (sagas.peers, the
      dashboard, the launcher) through `env_addr(service.env_var, ...)`.
    The first argument may be a literal, or a name bound to literals in the same module
    (`VAR = "X"`, a tuple of them, a loop over a tuple of them). Names that are not
    UPPER_SNAKE_CASE are ignored. Shell scripts and compose files are not scanned: their
    variables are in the page's last section, checked against those files instead.
    """
    found: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts
        if parts[0] in SKIPPED_TOP or parts[0].startswith(".") or "_pb2" in path.name:
            continue
        tree = ast.parse(path.read_text(), str(path))
        constants = _constants(tree)
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Call) and node.args and _reads(node):
                names = _strings(node.args[0], constants)
            elif isinstance(node, ast.Subscript) and _is_environment(node.value):
                if isinstance(node.ctx, ast.Load):
                    names = _strings(node.slice, constants)
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                if node.func.id in ("Service", "Participant"):
                    names = [s for a in node.args for s in _strings(a, constants)]
                    names = [s for s in names if s.endswith("_ADDR")]
            for name in names:
                if NAME.match(name):
                    found.setdefault(name, set()).add(str(path.relative_to(root)))
    return found


COMPOSE_SECTION = "## Docker compose and scripts"
DOC_NAME = re.compile(r"`([A-Z][A-Z0-9_]*(?:<[A-Z]+>[A-Z0-9_]*)?\*?)`")


def documented(text: str) -> tuple[set[str], set[str]]:
    """(variables, families) in the first column of the page's tables; a family ends in `*`
    (`OTEL_*`: the OpenTelemetry SDK's) and matches every variable with its prefix."""
    names = {
        name
        for line in text.splitlines()
        if line.startswith("| `")
        for name in DOC_NAME.findall(line.split("|")[1])
    }
    return {n for n in names if not n.endswith("*")}, {n[:-1] for n in names if n.endswith("*")}


def test_configuration_lists_every_variable_the_code_reads() -> None:
    """Read by the code but not in docs/configuration.md, or the other way round, fails; a
    variable of a documented family (`OTEL_*`) counts as documented, and the family itself
    need not be read by name. The page's last section (compose and scripts) is left out here."""
    text = CONFIGURATION.read_text()
    assert COMPOSE_SECTION in text, f"docs/configuration.md has no {COMPOSE_SECTION!r} section"
    listed, families = documented(text[: text.index(COMPOSE_SECTION)])
    read = variables_read()
    assert {"DATABASE_URL", "SAGAS", "TLS_CA_FILE", "SEAT_SERVICE_ADDR"} <= set(read), (
        "the scan finds too little: its rule no longer matches the code"
    )
    missing = {
        f"{name} (read in {', '.join(sorted(read[name]))})"
        for name in read
        if name not in listed and not any(name.startswith(f) for f in families)
    }
    unread = {n for n in listed if n not in read and not any(n.startswith(f) for f in families)}
    assert not missing, f"read by the code, missing from docs/configuration.md: {sorted(missing)}"
    assert not unread, f"in docs/configuration.md, read by no code: {sorted(unread)}"


def test_compose_variables_are_used_by_compose_or_scripts() -> None:
    text = CONFIGURATION.read_text()
    listed, _ = documented(text[text.index(COMPOSE_SECTION) :])
    assert listed, "the compose section lists nothing"
    files = [*REPO.glob("docker-compose*.yml"), *REPO.glob("scripts/*"), REPO / "Makefile"]
    corpus = "\n".join(f.read_text() for f in files if f.is_file())
    unused = []
    for name in listed:
        pattern = re.escape(name).replace(re.escape("<SERVICE>"), "[A-Z]+")
        if not re.search(rf"\b{pattern}\b", corpus):
            unused.append(name)
    assert not unused, f"in docs/configuration.md's compose section, used nowhere: {unused}"


def test_the_scan_follows_its_rule(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "m.py").write_text(
        "import os\n"
        "from sagakit.config import env_int\n"
        'A_VAR, B_VAR = "ALPHA", "BETA"\n'
        "def f(env):\n"
        '    env_int(\n        "SPLIT_LINES", 1, 0, 9, env)\n'
        '    os.environ.get("DIRECT")\n'
        '    os.getenv("GETENV")\n'
        "    env.get(A_VAR)\n"
        '    for var in ("LOOP_ONE", B_VAR):\n'
        "        env.get(var)\n"
        '    environ = {}; environ["SUBSCRIPT"]\n'
        '    Participant("x", "x_service", 1, "X_SERVICE_ADDR", "x")\n'
        '    Service("y", "y", 0, "Y_ADDR", "y")\n'
        '    other.get("NOT_ENV")\n'
        '    env.get("lower_case")\n'
    )
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "t.py").write_text('import os\nos.environ.get("IN_TESTS")\n')
    assert set(variables_read(tmp_path)) == {
        "SPLIT_LINES", "DIRECT", "GETENV", "ALPHA", "LOOP_ONE", "BETA", "SUBSCRIPT",
        "X_SERVICE_ADDR", "Y_ADDR",
    }  # fmt: skip


# --- the README and the code map ------------------------------------------------------------


def test_readme_is_short_and_keeps_the_two_set_up_commands() -> None:
    text = README.read_text()
    assert len(text.splitlines()) <= 250, "README.md grew past 250 lines: move reference to docs/"
    makefile = (REPO / "Makefile").read_text()
    for target in ("up", "test"):
        assert re.search(rf"^{target}:", makefile, re.M), f"the Makefile has no {target} target"
        assert re.search(rf"^make {target}\s+#", text, re.M), f"README.md lost `make {target}`"


def test_code_map_names_every_top_level_folder() -> None:
    try:
        tracked = subprocess.run(
            ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    folders = {f.split("/")[0] for f in tracked if "/" in f}
    text = (DOCS / "architecture.md").read_text()
    code_map = text[text.index("## Code map") :]
    missing = sorted(f for f in folders if f"| `{f}/` |" not in code_map)
    assert not missing, f"docs/architecture.md's code map misses {missing}"


# --- docs/api.md against the protos and the error reasons -----------------------------------


def test_api_shows_every_rpc_with_a_grpcurl_example() -> None:
    """Every RPC of protos/flightsaga/v1 has a grpcurl call in a run block of docs/api.md."""
    text = (DOCS / "api.md").read_text()
    shown = set(re.findall(r"\bflightsaga\.v1\.(\w+/\w+)", text))
    missing = []
    for proto in sorted((REPO / "protos" / "flightsaga" / "v1").glob("*.proto")):
        service = ""
        for line in proto.read_text().splitlines():
            if m := re.match(r"\s*service (\w+)", line):
                service = m[1]
            elif m := re.match(r"\s*rpc (\w+)\(", line):
                if f"{service}/{m[1]}" not in shown:
                    missing.append(f"{service}/{m[1]}")
    assert not missing, f"docs/api.md has no grpcurl example of {missing}"


def test_api_lists_every_error_reason() -> None:
    from sagakit.errors import Reason

    text = (DOCS / "api.md").read_text()
    reasons = [v for k, v in vars(Reason).items() if k.isupper() and isinstance(v, str)]
    assert reasons, "sagakit.errors.Reason lists nothing"
    missing = [r for r in reasons if f"| `{r}` |" not in text]
    assert not missing, f"docs/api.md's reason table misses {missing}"
