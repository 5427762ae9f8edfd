"""`python -m orchestrator`: the saga orchestrator's gRPC server (default port 50050)."""

from __future__ import annotations

from orchestrator.app import build
from orchestrator.config import DEFAULT_PORT
from sagakit.server import run_service


def main() -> None:
    run_service("orchestrator", DEFAULT_PORT, build)


if __name__ == "__main__":
    main()
