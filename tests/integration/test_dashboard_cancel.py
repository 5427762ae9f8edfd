"""The dashboard's cancel (POST /api/sagas/{id}/cancel) with auth on: only an operator may, the
saga records who, and what cannot be cancelled says why (real stack, real uvicorn, real HTTP)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from sagakit.auth import Tokens, new_token
from tests.support.cancel import HELD
from tests.support.dashboard_stack import dashboard_config, running_dashboard
from tests.support.dates import flight_id
from tests.support.stack import running_stack

BOOKING = {
    "customer_id": "LOY-1003",
    "flight_ids": [flight_id("FS101", 1)],
    "passengers": [{"first_name": "Ada", "last_name": "Lovelace"}],
    "card": {
        "number": "4242424242424242",
        "exp_month": 12,
        "exp_year": 2031,
        "cvc": "123",
        "holder_name": "Ada Lovelace",
    },
}
HELD_FAULTS = [HELD["x-fault"]]
Site = tuple[httpx.AsyncClient, dict[str, dict[str, str]]]


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    """The dashboard with auth on; the bearer header of each user, by name."""
    lines, headers = [], {}
    for name, roles in (("ann", "booker"), ("rita", "reader"), ("olga", "operator")):
        token, line = new_token(name, roles)
        headers[name] = {"Authorization": f"Bearer {token}"}
        lines.append(line)
    path = tmp_path / "tokens.txt"
    path.write_text("\n".join(lines) + "\n")
    env = {"AUTH_TOKENS_FILE": str(path), "STEP_TIMEOUT_MS": "10000"}
    async with running_stack(tmp_path, **env) as stack:
        config = dataclasses.replace(dashboard_config(stack), tokens=Tokens.parse(path.read_text()))
        async with (
            running_dashboard(config) as url,
            httpx.AsyncClient(base_url=url, timeout=30) as http,
        ):
            yield http, headers


async def test_only_an_operator_cancels_through_the_dashboard_and_the_saga_says_who(
    site: Site,
) -> None:
    http, as_ = site
    started = await http.post(
        "/api/bookings", json={**BOOKING, "faults": HELD_FAULTS}, headers=as_["olga"]
    )
    assert started.status_code == 202, started.text
    saga_id = started.json()["saga_id"]
    body = {"reason": "card reported stolen"}
    for name in ("ann", "rita"):
        refused = await http.post(f"/api/sagas/{saga_id}/cancel", json=body, headers=as_[name])
        assert refused.status_code == 403, refused.text
        assert "CancelSaga needs role operator" in refused.json()["error"]
    assert (await http.post(f"/api/sagas/{saga_id}/cancel", json=body)).status_code == 401
    done = await http.post(f"/api/sagas/{saga_id}/cancel", json=body, headers=as_["olga"])
    assert done.status_code == 200, done.text
    saga = done.json()
    assert (saga["cancelled_by"], saga["cancel_reason"]) == ("olga", "card reported stolen")
    assert saga["cancelled_at"]


async def test_what_cannot_be_cancelled_is_refused_naming_why(site: Site) -> None:
    http, as_ = site
    olga = as_["olga"]
    started = await http.post("/api/bookings", json=BOOKING, headers=olga)
    saga_id = started.json()["saga_id"]
    empty = await http.post(f"/api/sagas/{saga_id}/cancel", json={"reason": ""}, headers=olga)
    assert empty.status_code == 400 and empty.json()["field"] == "reason", empty.text
    unknown = await http.post("/api/sagas/nope/cancel", json={"reason": "x"}, headers=olga)
    assert unknown.status_code == 404, unknown.text
    for _ in range(200):
        saga = (await http.get(f"/api/sagas/{saga_id}", headers=olga)).json()
        if saga["status"] == "COMPLETED":
            break
        await asyncio.sleep(0.05)
    ended = await http.post(f"/api/sagas/{saga_id}/cancel", json={"reason": "x"}, headers=olga)
    assert ended.status_code == 409, ended.text
    assert ended.json()["reason"] == "SAGA_NOT_CANCELLABLE"
    assert "is COMPLETED" in ended.json()["error"]
