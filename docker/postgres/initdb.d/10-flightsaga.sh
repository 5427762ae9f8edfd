#!/bin/bash
# Run once, on the PostgreSQL container's first start (an empty data volume), by the entrypoint
# of the local image (docker/postgres) or of the official `postgres` image alike.
#
# One login role for the services, and one database per service, owned by it, named as
# tooling/pgdatabases.py names them (`flightsaga up --database …/flightsaga` makes the same):
# each service's DATABASE_URL names its own database; no service reads another's tables.
# Nobody else may connect to them (CONNECT revoked from PUBLIC).
#
# Environment (docker-compose.postgres.yml sets it): FLIGHTSAGA_DB_USER (default flightsaga),
# FLIGHTSAGA_DB_PASSWORD (required), FLIGHTSAGA_DB_PREFIX (default flightsaga).
set -euo pipefail

role=${FLIGHTSAGA_DB_USER:-flightsaga}
password=${FLIGHTSAGA_DB_PASSWORD:?FLIGHTSAGA_DB_PASSWORD must be set}
prefix=${FLIGHTSAGA_DB_PREFIX:-flightsaga}
services=(orchestrator seat_service loyalty_service payment_service booking_service)

sql() {
    psql -v ON_ERROR_STOP=1 -q --username "${POSTGRES_USER:-postgres}" --dbname postgres "$@"
}

# psql interpolates :"name" (identifier) and :'value' (literal): no quoting by hand.
sql --set role="$role" --set password="$password" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password';
SQL
for service in "${services[@]}"; do
    sql --set db="${prefix}_${service}" --set role="$role" <<'SQL'
CREATE DATABASE :"db" OWNER :"role";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT ALL ON DATABASE :"db" TO :"role";
SQL
    echo "[flightsaga-initdb] database ${prefix}_${service} (owner $role)" >&2
done
