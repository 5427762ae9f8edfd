"""Every command the README and docs/*.md show in a `sh` block runs, in order, with the exit
status it claims.

`console`, `text` (and any other) blocks are illustrations and are not run; the convention is
extract_commands' docstring. Each page's commands run in one bash session of their own (a
variable set by one is seen by the next on that page), each with stdin from /dev/null and its
own time limit. All pages share the session's stack; docs/api.md runs twice (fresh saga ids).
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.tools import (
    BIN,
    COMPOSE_DEFAULT_PORTS,
    DEFAULT_PORTS,
    REPO,
    Stack,
    grpcurl_transport,
)

pytestmark = pytest.mark.e2e

README = REPO / "README.md"
DOCS = REPO / "docs"
API = DOCS / "api.md"
PAGES = [README, *sorted(DOCS.glob("*.md"))]
COMMAND_TIMEOUT = 60.0
FENCE = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*?)\s*$")
EXIT = re.compile(r"\s#\s*exit\s+(?P<code>\d+)\b(?!.*\s#)")
ADDRESS = re.compile(r"\b(?:localhost|127\.0\.0\.1):(?P<port>\d+)\b")


@dataclass(frozen=True)
class Command:
    text: str
    expected: int
    line: int  # 1-based line in the markdown where the command starts
    page: str = "README.md"  # the markdown file, relative to the repo


def extract_commands(markdown: str, page: str = "README.md") -> list[Command]:
    r"""The commands of every ```sh block of `page`, in order, by the docs' convention.

    - a fenced code block whose info string is exactly `sh` holds commands to run; `console`,
      `text` (and anything else) are illustrations and are not run; a `console` block says why
      in an HTML comment on the line before it, `<!-- not run: reason -->` (checked by
      tests/unit/test_docs.py);
    - one command per line; a line ending with `\` continues on the next; lines starting with
      `#` are comments;
    - a trailing comment `# exit N` (optionally followed by words: `# exit 74: refused`) says
      the command's expected exit status is N (default 0);
    - commands use the default addresses (localhost / 127.0.0.1, ports 50050-50054, dashboard
      8080) and run with bash from the repo root. `rewrite` points the ports at the stack's: a
      launched stack's free ports, or docker-compose's published ones (tools.COMPOSE_PORTS).
    """
    commands: list[Command] = []
    fence: str | None = None  # the open fence, when inside a block
    running = False  # the open block is `sh`
    pending: list[str] = []
    start = 0
    for number, line in enumerate(markdown.splitlines(), 1):
        match = FENCE.match(line)
        if fence is None:
            if match:
                fence, running = match["fence"], match["info"] == "sh"
            continue
        if match and match["fence"][0] == fence[0] and len(match["fence"]) >= len(fence):
            if match["info"] == "":
                assert not pending, f"{page}:{start}: a command ends with '\\' at block end"
                fence = None
                continue
        if not running:
            continue
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].rstrip())
            continue
        pending.append(stripped)
        text = " ".join(pending)
        pending = []
        exit_match = EXIT.search(text)
        code = int(exit_match["code"]) if exit_match else 0
        commands.append(Command(text, code, start, page))
    assert fence is None, f"{page}: a code block is not closed"
    return commands


def rewrite(command: str, stack: Stack) -> str:
    """Point default addresses at the stack under test (launched, or docker-compose's)."""
    by_port = {port: name for name, port in DEFAULT_PORTS.items()}

    def swap(m: re.Match[str]) -> str:
        name = by_port.get(int(m["port"]))
        return m[0] if name is None else f"127.0.0.1:{stack.ports[name]}"

    rewritten = ADDRESS.sub(swap, command)
    identity = grpcurl_transport("orchestrator")
    if "flightsaga conform " in rewritten and not stack.local and "-cert" in identity:
        # Under mTLS a participant takes Do/Compensate from the orchestrator's certificate only.
        cert, key = (identity[identity.index(flag) + 1] for flag in ("-cert", "-key"))
        rewritten = f"TLS_CERT_FILE={cert} TLS_KEY_FILE={key} {rewritten}"
    if " -plaintext " in rewritten and not stack.local:
        # docker-compose speaks mTLS (docs/security.md#transport): the same call with the
        # README's TLS flags; a participant's Do/Compensate takes the orchestrator's certificate.
        participant = re.search(r"127\.0\.0\.1:\d+", rewritten)
        direct = participant is not None and any(
            participant[0] == stack.addr(p) for p in ("seat", "loyalty", "payment", "booking")
        )
        flags = grpcurl_transport("orchestrator" if direct else "client")
        rewritten = rewritten.replace(" -plaintext ", f" {' '.join(flags)} ", 1)
    return rewritten


@dataclass
class Outcome:
    command: Command
    ran: str  # after rewriting
    code: int | None  # None: did not finish in time, or the shell died
    output: str

    @property
    def ok(self) -> bool:
        return self.code == self.command.expected

    def report(self) -> str:
        got = "no exit status (timed out or the shell exited)" if self.code is None else self.code
        tail = "\n      ".join(self.output.rstrip().splitlines()[-15:])
        where = f"{self.command.page}:{self.command.line}"
        return (
            f"{where}: expected exit {self.command.expected}, got {got}\n"
            f"    $ {self.ran}\n      {tail}"
        )


def run_commands(commands: list[Command], stack: Stack, cwd: Path = REPO) -> list[Outcome]:
    """Run the commands in one bash session from `cwd`, each with its own time limit."""
    token = f"__E2E_README_{uuid.uuid4().hex}__"
    env = {**stack.env, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    shell = subprocess.Popen(
        ["bash", "--noprofile", "--norc"],
        cwd=cwd,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: a hung command can be killed with it
    )
    assert shell.stdin is not None and shell.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert shell.stdout is not None
        for out in shell.stdout:
            lines.put(out)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    outcomes: list[Outcome] = []
    try:
        for command in commands:
            ran = rewrite(command.text, stack)
            shell.stdin.write(f"{{ {ran}\n}} </dev/null\nprintf '\\n{token} %s\\n' \"$?\"\n")
            shell.stdin.flush()
            output: list[str] = []
            code: int | None = None
            end = time.monotonic() + COMMAND_TIMEOUT
            while code is None:
                try:
                    line = lines.get(timeout=max(0.0, end - time.monotonic()))
                except queue.Empty:
                    output.append(f"[still running after {COMMAND_TIMEOUT:.0f}s]")
                    break
                if line is None:
                    output.append("[the shell exited]")
                    break
                if line.startswith(token):
                    code = int(line.split()[1])
                else:
                    output.append(line)
            text = "".join(output)
            outcomes.append(Outcome(command, ran, code, text.removesuffix("\n")))
            if code is None:
                break  # the session is hung or gone: later commands cannot be judged
    finally:
        if shell.poll() is None:
            os.killpg(shell.pid, signal.SIGKILL)
        shell.wait()
    return outcomes


def assert_all_ok(commands: list[Command], outcomes: list[Outcome]) -> None:
    failed = [o.report() for o in outcomes if not o.ok]
    not_run = len(commands) - len(outcomes)
    if not_run:
        failed.append(f"{not_run} later command(s) not run")
    assert not failed, "documented commands misbehaved:\n" + "\n".join(failed)


def page_commands(page: Path) -> list[Command]:
    return extract_commands(page.read_text(), str(page.relative_to(REPO)))


def test_readme_has_commands() -> None:
    assert README.exists(), "README.md is missing"
    assert page_commands(README), "README.md has no ```sh block: the README test would run nothing"
    assert page_commands(API), "docs/api.md has no ```sh block"


@pytest.mark.parametrize(
    "page", [p for p in PAGES if p != API], ids=lambda p: str(p.relative_to(REPO))
)
def test_page_commands_run_as_documented(stack: Stack, page: Path) -> None:
    commands = page_commands(page)
    if not commands:
        pytest.skip(f"{page.relative_to(REPO)} has no sh block")
    outcomes = run_commands(commands, stack)
    assert_all_ok(commands, outcomes)


# --- the convention itself, on a sample ------------------------------------------------------

SAMPLE = """\
# Try it

```console
$ flightsaga up
FlightSaga is up
```

```sh
# a comment, then a command on two lines
.venv/bin/flightsaga book --from JFK --to LAX \\
    --date tomorrow --fail-at payment   # exit 1
CID=readme-sample-$RANDOM
.venv/bin/flightsaga book --from JFK --to LAX --date tomorrow --correlation-id "$CID" \\
    | grep -q "BOOKING CONFIRMED"
.venv/bin/flightsaga get no-such-saga # exit 2: NOT_FOUND is bad input

.venv/bin/grpcurl -plaintext localhost:50050 list flightsaga.v1.Orchestrator
.venv/bin/grpcurl -plaintext 127.0.0.1:50051 grpc.health.v1.Health/Check | grep -q SERVING
```

```text
not a command
```

```bash
false  # a bash block is not a sh block
```
"""


def test_extract_follows_the_convention() -> None:
    commands = extract_commands(SAMPLE)
    expected = [(1, 10), (0, 12), (0, 13), (2, 15), (0, 17), (0, 18)]
    assert [(c.expected, c.line) for c in commands] == expected
    assert commands[0].text == (
        ".venv/bin/flightsaga book --from JFK --to LAX --date tomorrow --fail-at payment   # exit 1"
    )
    assert not any("flightsaga up" in c.text or "false" in c.text for c in commands)
    assert extract_commands("# no code here\n\n```console\n$ ls\n```\n") == []


def test_rewrite_points_default_ports_at_the_stack() -> None:
    stack = Stack("local", {"orchestrator": 41000, "seat": 41001, "loyalty": 41002,
                            "payment": 41003, "booking": 41004, "dashboard": 42000})  # fmt: skip
    assert rewrite("grpcurl -plaintext localhost:50050 list", stack) == (
        "grpcurl -plaintext 127.0.0.1:41000 list"
    )
    assert rewrite("curl http://127.0.0.1:8080/healthz; x 127.0.0.1:50054", stack) == (
        "curl http://127.0.0.1:42000/healthz; x 127.0.0.1:41004"
    )
    assert rewrite("echo localhost:9999 150050", stack) == "echo localhost:9999 150050"
    compose = Stack("compose", dict(COMPOSE_DEFAULT_PORTS))
    assert rewrite("grpcurl localhost:50052 list", compose) == "grpcurl 127.0.0.1:50152 list"


def test_rewrite_gives_conform_the_orchestrators_certificate_under_mtls(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TLS_CA_FILE", str(tmp_path / "ca.pem"))
    monkeypatch.delenv("FLIGHTSAGA_CERTS_DIR", raising=False)
    compose = Stack("compose", dict(COMPOSE_DEFAULT_PORTS))
    command = ".venv/bin/flightsaga conform 127.0.0.1:50051 --step seat"
    assert rewrite(command, compose) == (
        f"TLS_CERT_FILE={tmp_path}/orchestrator.pem TLS_KEY_FILE={tmp_path}/orchestrator-key.pem"
        " .venv/bin/flightsaga conform 127.0.0.1:50151 --step seat"
    )


def test_sample_commands_run_against_the_stack(stack: Stack) -> None:
    commands = extract_commands(SAMPLE)
    outcomes = run_commands(commands, stack)
    assert_all_ok(commands, outcomes)
    assert "flightsaga.v1.Orchestrator.BookFlight" in outcomes[4].output


def test_a_wrong_exit_status_is_caught(stack: Stack) -> None:
    commands = extract_commands("```sh\n.venv/bin/flightsaga get no-such-saga\nfalse # exit 1\n```")
    outcomes = run_commands(commands, stack)
    assert [o.code for o in outcomes] == [2, 1]
    assert [o.ok for o in outcomes] == [False, True]
    with pytest.raises(AssertionError, match=r"README.md:2: expected exit 0, got 2"):
        assert_all_ok(commands, outcomes)


# --- the README's Python example ------------------------------------------------------------

PYTHON_BLOCK = re.compile(r"^```python\n(?P<code>.*?)^```", re.S | re.M)


def test_readme_python_example_runs_against_the_stack(stack: Stack) -> None:
    blocks = PYTHON_BLOCK.findall(README.read_text())
    assert blocks, "README.md has no ```python block"
    for code in blocks:
        done = subprocess.run(
            [str(BIN / "python"), "-c", code],
            cwd=REPO,
            env=stack.env,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
        )
        assert done.returncode == 0, done.stderr
        # The example books with a failure at payment: two compensations, in reverse, and
        # prints enum names, not numbers.
        lines = [line.rstrip() for line in done.stdout.splitlines()]
        assert lines[0] == "COMPENSATED - undone, in order: deduct_loyalty_points, reserve_seat"
        events = [line.split() for line in lines[1:]]
        assert [e[0] for e in events] == [str(n) for n in range(1, len(events) + 1)], lines
        assert events[0][1:] == ["SAGA_STARTED"] and events[-1][1:] == ["SAGA_COMPENSATED"]
        assert ["COMPENSATION_SUCCEEDED", "reserve_seat"] in [e[1:] for e in events]
        assert not any(e[1].isdigit() for e in events), lines


def test_readme_python_example_output_is_shown() -> None:
    """The README shows what the example prints: the `text` block right after it."""
    text = README.read_text()
    after = text[text.index("```python") :]
    shown = re.search(r"^```text\n(?P<out>.*?)^```", after, re.S | re.M)
    assert shown and after.index("```text") < after.index("\n## "), "no output shown"
    assert shown["out"].startswith("COMPENSATED - undone, in order: deduct_loyalty_points, ")


# --- docs/api.md runs again and again on one stack ------------------------------------------


def test_api_examples_run_twice(stack: Stack) -> None:
    """Participants remember every saga id: the examples take fresh ids ($RUN) each run."""
    commands = page_commands(API)
    assert commands[0].text.startswith("RUN="), commands[0]
    assert not any('"saga_id":"docs-' in c.text for c in commands)
    for _ in range(2):
        outcomes = run_commands(commands, stack)
        assert_all_ok(commands, outcomes)
