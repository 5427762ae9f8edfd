"""The sagas FlightSaga runs, declared once: their steps, participants and request builders.

Client-safe: imports only the protobuf/gRPC stubs of flightsaga.v1, the stdlib and
sagakit.errors, so the orchestrator, the dashboard, the launcher, chaos, bench and the tests all
read the same declaration. `declare` has the building blocks, `booking` the booking saga,
`services` the registry of every FlightSaga gRPC service (ports, address variables, packages).
"""
