"""The wheel (what Docker images install) ships every package: editable installs hide gaps."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = (
    "sagakit",
    "orchestrator",
    "seat_service",
    "loyalty_service",
    "payment_service",
    "booking_service",
    "dashboard",
    "launcher",
    "tooling",
    "cli",
    "sagas",
    "examples",
)


def test_every_python_package_is_listed_in_pyproject() -> None:
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in SHIPPED
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert found - listed == set(), "add these to [tool.setuptools] packages"


def test_the_wheel_ships_every_service_migration(tmp_path: Path) -> None:
    """Migrations are package data (no __init__.py): a wheel without them cannot start."""
    import subprocess
    import sys
    import zipfile

    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(ROOT)],
        check=True,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("flightsaga-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for service in ("orchestrator", "seat_service", "loyalty_service", "payment_service",
                    "booking_service"):  # fmt: skip
        assert f"{service}/migrations/env.py" in names
        assert f"{service}/migrations/versions/0001_baseline.py" in names
    assert "orchestrator/migrations/versions/0002_outbox.py" in names
    for example in ("examples/trip/hotel_service", "examples/trip/car_service"):
        assert f"{example}/migrations/env.py" in names
        assert f"{example}/migrations/versions/0001_baseline.py" in names
    assert "examples/trip/trip_pb2.pyi" in names
