"""Other sagas served by the same orchestrator, each declared with sagas.declare and built
from sagakit's participant template (examples/trip: a hotel room and a rental car)."""
