"""FlightSaga's tooling: what the CLI, the launcher, the bench and the tests use around the
services (a development CA, a throwaway PostgreSQL cluster, a database per service on one
server, the compose stack's alert webhook receiver), and no service process imports."""
