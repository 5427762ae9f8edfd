"""The dashboard with auth on: a token to sign in, the user's role enforced by the orchestrator,
and no state change from another site (real stack, real uvicorn, real HTTP)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from sagakit.auth import Tokens, new_token
from tests.support.dashboard_stack import dashboard_config, running_dashboard
from tests.support.dates import flight_id
from tests.support.stack import running_stack

BOOKING = {
    "customer_id": "LOY-1001",
    "flight_ids": [flight_id("FS101", 1)],
    "passengers": [{"first_name": "Ada", "last_name": "Lovelace"}],
    "cabin_class": "ECONOMY",
    "card": {
        "number": "4242424242424242",
        "exp_month": 12,
        "exp_year": 2031,
        "cvc": "123",
        "holder_name": "Ada Lovelace",
    },
}


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    lines, tokens = [], {}
    for name, roles in (("ann", "booker"), ("rita", "reader")):
        tokens[name], line = new_token(name, roles)
        lines.append(line)
    path = tmp_path / "tokens.txt"
    path.write_text("\n".join(lines) + "\n")
    async with running_stack(tmp_path, AUTH_TOKENS_FILE=str(path)) as stack:
        config = dataclasses.replace(dashboard_config(stack), tokens=Tokens.parse(path.read_text()))
        async with (
            running_dashboard(config) as url,
            httpx.AsyncClient(base_url=url, timeout=30) as http,
        ):
            yield http, tokens


async def test_the_dashboard_asks_for_a_token_and_forwards_the_users_role(
    site: tuple[httpx.AsyncClient, dict[str, str]],
) -> None:
    http, tokens = site
    assert (await http.get("/api/config")).json()["auth"] is True
    assert (await http.get("/api/config")).json()["roles"] is None  # nobody signed in yet
    assert (await http.get("/api/stats")).status_code == 401
    assert (await http.post("/api/bookings", json=BOOKING)).status_code == 401
    wrong = await http.post("/api/session", json={"token": "fs_guess"})
    assert wrong.status_code == 401
    # Signed in as a reader: reads work, booking is refused by the orchestrator's role check.
    signed = await http.post("/api/session", json={"token": tokens["rita"]})
    assert signed.status_code == 200 and signed.json()["roles"] == ["reader"]
    assert "httponly" in signed.headers["set-cookie"].lower()
    assert "samesite=strict" in signed.headers["set-cookie"].lower()
    assert (await http.get("/api/stats")).status_code == 200
    # The page shows operators' links (bulk actions) by these roles.
    assert (await http.get("/api/config")).json()["roles"] == ["reader"]
    refused = await http.post("/api/bookings", json=BOOKING)
    assert refused.status_code == 403, refused.text
    # A booker (bearer header this time) books; its saga is its own.
    ann = {"Authorization": f"Bearer {tokens['ann']}"}
    http.cookies.clear()
    started = await http.post("/api/bookings", json=BOOKING, headers=ann)
    assert started.status_code == 202, started.text
    saga_id = started.json()["saga_id"]
    for _ in range(200):
        saga = (await http.get(f"/api/sagas/{saga_id}", headers=ann)).json()
        if saga["status"] in ("COMPLETED", "COMPENSATED", "FAILED"):
            break
        await asyncio.sleep(0.05)
    assert saga["status"] == "COMPLETED", saga
    assert saga["request"]["owner"] == "ann"


async def test_state_changing_calls_from_another_site_are_refused(
    site: tuple[httpx.AsyncClient, dict[str, str]],
) -> None:
    http, tokens = site
    await http.post("/api/session", json={"token": tokens["ann"]})
    evil = {"Origin": "https://evil.example"}
    refused = await http.post("/api/bookings", json=BOOKING, headers=evil)
    assert refused.status_code == 403 and "cross-site" in refused.json()["error"]
    # What an HTML form can send (no preflight) is refused whatever its origin.
    form = await http.post(
        "/api/sagas/abc/resume",
        content=b"clear_faults=1",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert form.status_code == 400, form.text
    same = {"Origin": str(http.base_url).rstrip("/")}
    assert (await http.post("/api/bookings", json=BOOKING, headers=same)).status_code == 202
