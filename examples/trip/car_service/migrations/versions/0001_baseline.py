"""Baseline: fleet (seeded) and rentals, with the barrier and its marks by age.

Revision ID: 0001
Revises:
"""

from sagakit.barrier import BASELINE_DDL as BARRIER_DDL
from sagakit.barrier import CREATED_INDEX_DDL
from sagakit.migrate import execute_script

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

DDL = """
CREATE TABLE IF NOT EXISTS fleet (
    city TEXT NOT NULL,
    car_class TEXT NOT NULL CHECK (car_class IN ('economy', 'compact', 'suv')),
    cars_left INTEGER NOT NULL CHECK (cars_left >= 0),
    daily_cents INTEGER NOT NULL CHECK (daily_cents > 0),
    PRIMARY KEY (city, car_class)
);
CREATE TABLE IF NOT EXISTS rentals (
    saga_id TEXT PRIMARY KEY,
    driver TEXT NOT NULL,
    city TEXT NOT NULL,
    pick_up TEXT NOT NULL,
    days INTEGER NOT NULL CHECK (days BETWEEN 1 AND 30),
    car_class TEXT NOT NULL,
    price_cents INTEGER NOT NULL CHECK (price_cents >= 0),
    state TEXT NOT NULL CHECK (state IN ('booked', 'cancelled')),
    at TEXT NOT NULL,
    FOREIGN KEY (city, car_class) REFERENCES fleet (city, car_class)
);
INSERT INTO fleet VALUES
    ('LIS', 'economy', 40, 3500), ('LIS', 'compact', 30, 4500), ('LIS', 'suv', 10, 7900),
    ('PAR', 'economy', 25, 4200), ('PAR', 'compact', 20, 5200), ('PAR', 'suv', 0, 9900),
    ('NYC', 'economy', 30, 5500), ('NYC', 'compact', 25, 6500), ('NYC', 'suv', 15, 9500),
    ('SLD', 'economy', 10, 3000), ('SLD', 'compact', 10, 4000), ('SLD', 'suv', 5, 7000)
ON CONFLICT (city, car_class) DO NOTHING;
"""


def upgrade() -> None:
    execute_script(BARRIER_DDL)
    execute_script(CREATED_INDEX_DDL)
    execute_script(DDL)


def downgrade() -> None:
    raise NotImplementedError("schema changes are forward-only")
