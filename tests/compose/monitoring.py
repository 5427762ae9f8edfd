"""Reading the compose stack's monitoring from tests: Prometheus' HTTP API, Alertmanager's and
the deliveries the alert-webhook receiver recorded, and waiting for what they show."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from tests.compose import stackctl


async def api(http: httpx.AsyncClient, path: str, **params: str) -> Any:
    """Prometheus' /api/v1/<path>: its `data`."""
    reply = await http.get(f"{stackctl.PROMETHEUS_URL}/api/v1/{path}", params=params)
    reply.raise_for_status()
    body = reply.json()
    assert body["status"] == "success", body
    return body["data"]


async def deliveries(http: httpx.AsyncClient) -> list[dict[str, Any]]:
    """Every notification the alert-webhook receiver recorded, oldest first."""
    reply = await http.get(f"{stackctl.ALERT_WEBHOOK_URL}/alerts")
    reply.raise_for_status()
    found: list[dict[str, Any]] = reply.json()
    return found


async def delivered(
    http: httpx.AsyncClient, alertname: str, after: int = 0
) -> list[dict[str, Any]]:
    """The firing `alertname` alerts delivered to the receiver, in its deliveries from the
    `after`-th on."""
    return [
        alert
        for notification in (await deliveries(http))[after:]
        for alert in notification["alerts"]
        if alert["labels"].get("alertname") == alertname and alert["status"] == "firing"
    ]


async def eventually(what: str, check: Callable[[], Awaitable[Any]], timeout: float = 60.0) -> Any:
    """check()'s first truthy answer, polled every second; fails saying `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = await check()
        except httpx.HTTPError as exc:  # still starting
            last = exc
        else:
            if last:
                return last
        await asyncio.sleep(1)
    raise AssertionError(f"{what} within {timeout:.0f}s; last answer: {last!r}")
