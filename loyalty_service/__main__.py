"""`python -m loyalty_service`: loyalty accounts and points ledger, port 50052 (PORT overrides)."""

from __future__ import annotations

from loyalty_service.app import build
from sagakit.server import run_service


def main() -> None:
    run_service("loyalty_service", 50052, build)


if __name__ == "__main__":
    main()
