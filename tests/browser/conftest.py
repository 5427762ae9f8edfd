"""Browser tier: the dashboard in headless Debian Chromium, driven by Playwright's Python API.

The stack (orchestrator, dashboard, and the participants of both sagas it serves: the booking
and the trip example) runs in-process on a background event loop, on 127.0.0.1 ports chosen by
the OS. Every test saves a full-page screenshot to artifacts/screenshots/<test>.png.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.dashboard_stack import StackThread

CHROMIUM = os.environ.get("FLIGHTSAGA_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


def _required() -> bool:
    return any(os.environ.get(v, "") not in ("", "0") for v in ("CI", "FLIGHTSAGA_REQUIRE_BROWSER"))


_NOT_RUN: list[str] = []


def _unavailable(reason: str) -> None:
    message = f"BROWSER TIER NOT RUN: {reason}"
    if message not in _NOT_RUN:
        _NOT_RUN.append(message)
    if _required():
        pytest.fail(f"{message} (required because CI / FLIGHTSAGA_REQUIRE_BROWSER is set)")
    pytest.skip(
        f"{message} -- install it with `apt-get install -y chromium`; never `playwright install`"
    )


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for message in _NOT_RUN:
        terminalreporter.write_sep("!", message, red=True, bold=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Chromium comes from the OS (`apt-get install -y chromium`, /usr/bin/chromium or
    $FLIGHTSAGA_CHROMIUM); `playwright install` is never used. When Chromium or Playwright is
    missing the tier is skipped with a loud reason, except under CI=1 or
    FLIGHTSAGA_REQUIRE_BROWSER=1, where it fails."""
    path = CHROMIUM if os.path.isabs(CHROMIUM) else shutil.which(CHROMIUM)
    if not path or not os.access(path, os.X_OK):
        _unavailable(f"Chromium not found at {CHROMIUM}")
    assert path is not None
    return path


# The booking and the trip example, as `SAGAS=...` serves them: the booking pages are tested
# beside another saga's sagas, as a deployment serving several sagas shows them.
SAGAS = "sagas.booking,examples.trip"


@pytest.fixture(scope="package")
def stack_thread() -> Iterator[StackThread]:
    stack = StackThread(SAGAS=SAGAS).start()
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="package")
def base_url(stack_thread: StackThread) -> str:
    return stack_thread.base_url


# Package scope, not session: sync Playwright keeps an event loop running in the main thread
# while it is open, which would break every async test collected after this folder.
@pytest.fixture(scope="package")
def browser(chromium_path: str) -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        _unavailable(f"the playwright package is not installed ({exc})")
    pw = sync_playwright().start()
    try:
        browser = pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
    except Exception as exc:
        pw.stop()
        _unavailable(f"Chromium at {chromium_path} did not start: {exc}")
    try:
        yield browser
    finally:
        browser.close()
        pw.stop()


@pytest.fixture
def page(browser: Any, base_url: str, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
    finally:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
        try:
            page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
        finally:
            context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
