"""`python -m seat_service`: flight inventory and seat holds on port 50051 (PORT overrides)."""

from __future__ import annotations

from sagakit.server import run_service
from seat_service.app import build


def main() -> None:
    run_service("seat_service", 50051, build)


if __name__ == "__main__":
    main()
