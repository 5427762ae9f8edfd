"""FlightSaga's tooling: what the CLI, the launcher, the bench and the tests use around the
services (a development CA, a throwaway PostgreSQL cluster, a database per service on one
server), and no service process imports."""
