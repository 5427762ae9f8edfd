"""`python -m booking_service`: confirmed bookings on port 50054 (PORT overrides)."""

from __future__ import annotations

from booking_service.app import build
from sagakit.server import run_service


def main() -> None:
    run_service("booking_service", 50054, build)


if __name__ == "__main__":
    main()
