"""`python -m examples.trip.hotel_service`: hotel rooms, port 50055 (PORT overrides)."""

from examples.trip.hotel_service.app import build
from sagakit.server import run_service

if __name__ == "__main__":
    run_service("hotel_service", 50055, build)
