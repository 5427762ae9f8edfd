"""The dashboard's bulk-job API with auth on (real stack, real uvicorn, real HTTP): only an
operator counts or starts a bulk job, no other site can start one, bad filters are named."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import httpx

from sagakit.auth import Tokens, new_token
from tests.support.dashboard_stack import dashboard_config, running_dashboard
from tests.support.stack import running_stack

DRY = {"action": "resume", "filter": {"status": ["failed"], "since": "1h"}, "dry_run": True}


async def test_only_an_operator_runs_bulk_jobs_from_the_dashboard(tmp_path: Path) -> None:
    lines, tokens = [], {}
    for name, roles in (("ann", "booker"), ("rita", "reader"), ("ops", "operator")):
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
            page = await http.get("/sagas/bulk")
            assert page.status_code == 200 and "bulk-confirm" in page.text
            assert (await http.post("/api/bulk-jobs", json=DRY)).status_code == 401
            for name in ("ann", "rita"):
                who = {"Authorization": f"Bearer {tokens[name]}"}
                refused = await http.post("/api/bulk-jobs", json=DRY, headers=who)
                assert refused.status_code == 403, (name, refused.text)
                assert (await http.get("/api/bulk-jobs/x", headers=who)).status_code == 403
            ops = {"Authorization": f"Bearer {tokens['ops']}"}
            dry = await http.post("/api/bulk-jobs", json=DRY, headers=ops)
            assert dry.status_code == 200, dry.text
            job = dry.json()
            assert (job["state"], job["matched"], job["created_by"]) == ("BULK_PLANNED", 0, "ops")
            got = await http.get(f"/api/bulk-jobs/{job['job_id']}", headers=ops)
            assert got.json()["job_id"] == job["job_id"]
            bad = {**DRY, "filter": {"since": "yesterday-ish"}}
            named = await http.post("/api/bulk-jobs", json=bad, headers=ops)
            assert named.status_code == 400 and named.json()["field"] == "filter.since"
            cancel = {**DRY, "action": "cancel", "filter": {"status": ["running"]}}
            counted = await http.post("/api/bulk-jobs", json=cancel, headers=ops)
            assert counted.json()["action"] == "BULK_CANCEL", counted.text
            why = await http.post("/api/bulk-jobs", json={**cancel, "dry_run": False}, headers=ops)
            assert why.status_code == 400 and why.json()["field"] == "reason", why.text
            foreign = {**ops, "Origin": "https://evil.example"}
            crossed = await http.post("/api/bulk-jobs", json=DRY, headers=foreign)
            assert crossed.status_code == 403 and "cross-site" in crossed.json()["error"]
