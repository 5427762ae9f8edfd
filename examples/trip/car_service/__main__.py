"""`python -m examples.trip.car_service`: rental cars, port 50056 (PORT overrides)."""

from examples.trip.car_service.app import build
from sagakit.server import run_service

if __name__ == "__main__":
    run_service("car_service", 50056, build)
