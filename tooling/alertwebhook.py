"""The compose stack's alert receiver: Alertmanager's webhook target, keeping what it delivers.

    python -m tooling.alertwebhook        (PORT, default 9095; LISTEN_ADDR host:port wins)

POST /alerts takes one Alertmanager notification (its webhook JSON) and keeps it, stamped with
when it arrived, among the last MAX_KEPT; GET /alerts lists them, oldest first; GET /healthz
answers 200. A stand-in for a real channel (docs/observability.md#alerts): the proof, for the
compose tier, that an alert reached someone.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
from collections import deque
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sagakit.config import env_choice, listen_addr
from sagakit.logs import setup_logging

log = logging.getLogger("alertwebhook")

DEFAULT_PORT = 9095
MAX_KEPT = 1000
MAX_BODY = 1 << 20  # Alertmanager's notifications are a few kB; more is not one of them


class Deliveries:
    """The notifications received, oldest first, at most `keep` (the handler threads share it)."""

    def __init__(self, keep: int = MAX_KEPT) -> None:
        self._kept: deque[dict[str, Any]] = deque(maxlen=keep)
        self._lock = threading.Lock()

    def add(self, notification: dict[str, Any]) -> None:
        stamped = {**notification, "receivedAt": datetime.now(UTC).isoformat()}
        with self._lock:
            self._kept.append(stamped)

    def all(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._kept)


def parse(body: bytes) -> dict[str, Any]:
    """One notification from a request body; ValueError naming what is wrong."""
    try:
        notification = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"body: not JSON ({exc})") from None
    if not isinstance(notification, dict):
        raise ValueError("body: a JSON object (an Alertmanager notification) expected")
    if not isinstance(notification.get("alerts"), list):
        raise ValueError("alerts: a list of alerts expected")
    return notification


def describe(notification: dict[str, Any]) -> str:
    """`firing FlightSagaSagaFailed (1 alert)`: what a log line says of a delivery."""
    names = sorted({str(a.get("labels", {}).get("alertname", "?")) for a in notification["alerts"]})
    count = len(notification["alerts"])
    return (
        f"{notification.get('status', '?')} {', '.join(names) or '-'} "
        f"({count} alert{'' if count == 1 else 's'})"
    )


class Handler(BaseHTTPRequestHandler):
    server: AlertWebhook

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/alerts":
            self._reply(200, self.server.deliveries.all())
        elif path == "/healthz":
            self._reply(200, {"status": "ok"})
        else:
            self._reply(404, {"error": f"{path}: not found (try /alerts)"})

    def do_POST(self) -> None:
        if self.path.split("?", 1)[0] != "/alerts":
            self._reply(404, {"error": f"{self.path}: not found (POST /alerts)"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 < length <= MAX_BODY:
            self._reply(400, {"error": f"Content-Length: 1 to {MAX_BODY} bytes expected"})
            return
        try:
            notification = parse(self.rfile.read(length))
        except ValueError as exc:
            self._reply(400, {"error": str(exc)})
            return
        self.server.deliveries.add(notification)
        log.info("[ALERT] %s", describe(notification))
        self._reply(200, {"status": "recorded"})

    def _reply(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


class AlertWebhook(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], deliveries: Deliveries | None = None) -> None:
        super().__init__(address, Handler)
        self.deliveries = deliveries or Deliveries()


def main() -> None:
    log_format = env_choice("LOG_FORMAT", ("console", "json"), "console")
    level = env_choice("LOG_LEVEL", ("debug", "info", "warning", "error"), "info")
    setup_logging("alert-webhook", log_format, level.upper())
    server = AlertWebhook(listen_addr(DEFAULT_PORT))
    # serve_forever returns once shutdown() runs, which must be on another thread.
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    log.info("alert webhook on http://%s:%d/alerts", *server.server_address[:2])
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
