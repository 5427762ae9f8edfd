"""The scenario matrix's HTML page in Chromium: a row per step, a column per fault, every cell
passed, and a cell's link opens its saga on the dashboard."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from sagas.booking import PROCESS_PAYMENT, STEP_ORDER
from sagas.peers import Addrs
from testkit.matrix import matrix, report
from testkit.matrix.columns import COLUMNS
from tests.browser.conftest import SCREENSHOTS
from tests.support.dashboard_stack import StackThread


@pytest.fixture(scope="module")
def matrix_stack() -> Iterator[StackThread]:
    """A stack of its own (the matrix's sagas stay off the other tests' lists), with the
    matrix's short step deadlines."""
    env = {k: v for k, v in matrix.stack_env().items() if k != "LOG_LEVEL"}
    stack = StackThread(**env).start()
    try:
        yield stack
    finally:
        stack.stop()


def run_matrix(stack: StackThread, out: Path) -> dict[str, Any]:
    assert stack.stack is not None
    a = stack.stack.addrs
    addrs = Addrs(
        stack.stack.orchestrator_addr,
        a["seat_service"],
        a["loyalty_service"],
        a["payment_service"],
        a["booking_service"],
    )
    opts = matrix.Options(out, dashboard=stack.base_url, target=addrs, out=io.StringIO())
    doc = stack.run(matrix.run(opts), timeout=180)
    report.write(doc, out)
    return doc


def test_the_matrix_page_shows_every_cell_and_links_to_its_saga(
    browser: Any, matrix_stack: StackThread, tmp_path: Path
) -> None:
    doc = run_matrix(matrix_stack, tmp_path)
    assert json.loads((tmp_path / report.JSON_NAME).read_text())["ok"], report.text(doc)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    page = context.new_page()
    try:
        page.goto((tmp_path / report.HTML_NAME).as_uri())
        table = page.get_by_test_id("matrix")
        expect(table.locator("tbody tr")).to_have_count(len(STEP_ORDER))
        expect(table.locator("thead th")).to_have_count(len(COLUMNS) + 1)
        cells = len(STEP_ORDER) * len(COLUMNS)
        expect(table.locator("td.pass")).to_have_count(cells)
        expect(page.get_by_test_id("summary")).to_contain_text(f"{cells} of {cells} cells passed")

        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "matrix_page.png"), full_page=True)

        cell = page.get_by_test_id(f"cell-{PROCESS_PAYMENT}-fail")
        expect(cell).to_have_text("PASS")
        saga_id = next(
            s["saga_id"]
            for s in doc["scenarios"]
            if (s["step"], s["column"]) == (PROCESS_PAYMENT, "fail")
        )
        cell.get_by_role("link").click()
        page.wait_for_url(f"{matrix_stack.base_url}/test?saga={saga_id}")
        expect(page.get_by_test_id("saga-status")).to_have_attribute("data-status", "COMPENSATED")
        expect(page.get_by_test_id("flow-step-process_payment")).to_have_attribute(
            "data-state", "STEP_FAILED"
        )
    finally:
        context.close()
