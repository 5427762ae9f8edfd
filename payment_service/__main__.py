"""`python -m payment_service`: the simulated card processor on port 50053 (PORT overrides)."""

from __future__ import annotations

from payment_service.app import build
from sagakit.server import run_service


def main() -> None:
    run_service("payment_service", 50053, build)


if __name__ == "__main__":
    main()
