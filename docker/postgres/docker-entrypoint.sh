#!/bin/bash
# Entrypoint of the local PostgreSQL image (docker/postgres/Dockerfile), a subset of the official
# image's: on the first start (an empty $PGDATA) initdb with POSTGRES_USER / POSTGRES_PASSWORD,
# password (scram-sha-256) auth for every TCP client, run /docker-entrypoint-initdb.d/* once
# against a server listening on its socket only (so nothing connects half-initialised), then
# run the server in the foreground, listening on every interface of the container's networks.
set -Eeuo pipefail

log() { printf '[postgres-entrypoint] %s\n' "$*" >&2; }
die() {
    log "ERROR: $*"
    exit 1
}

# `docker run IMAGE -c x=y` means `postgres -c x=y`, as with the official image.
if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
    set -- postgres "$@"
fi
if [ "$1" != postgres ]; then
    exec "$@"
fi
[ "$(id -u)" -ne 0 ] || die "run as the postgres user, not root"

: "${PGDATA:=/var/lib/postgresql/data}"
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
SOCKET_DIR=/var/run/postgresql
# Written last on the first start: a data dir without it was left half-initialised.
DONE="$PGDATA/.initialised"

if [ -s "$PGDATA/PG_VERSION" ] && [ ! -e "$DONE" ]; then
    die "$PGDATA was left half-initialised by an interrupted first start; remove the volume (docker compose down -v) and start again"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    [ -n "${POSTGRES_PASSWORD:-}" ] || die "POSTGRES_PASSWORD must be set (the superuser's password)"
    [ -w "$PGDATA" ] || die "$PGDATA is not writable by $(id -un) (uid $(id -u))"
    log "first start: initdb into $PGDATA (superuser $POSTGRES_USER)"
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    # shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS is a list of words, as in the official image
    initdb -D "$PGDATA" --username="$POSTGRES_USER" --pwfile="$pwfile" --encoding=UTF8 \
        --locale=C.UTF-8 --auth-local=trust --auth-host=scram-sha-256 ${POSTGRES_INITDB_ARGS:-} >/dev/null
    rm -f "$pwfile"
    {
        echo
        echo "# FlightSaga: clients on the container networks log in with a password."
        echo "host all all 0.0.0.0/0 scram-sha-256"
        echo "host all all ::/0 scram-sha-256"
    } >>"$PGDATA/pg_hba.conf"
    {
        echo
        echo "# FlightSaga (docker-entrypoint.sh)"
        echo "listen_addresses = '*'"
        echo "unix_socket_directories = '$SOCKET_DIR'"
    } >>"$PGDATA/postgresql.conf"

    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w -t 60 start >/dev/null
    export PGHOST=$SOCKET_DIR PGUSER=$POSTGRES_USER PGDATABASE=postgres
    if [ "$POSTGRES_DB" != postgres ]; then
        psql -v ON_ERROR_STOP=1 -q --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
    fi
    for f in /docker-entrypoint-initdb.d/*; do
        [ -e "$f" ] || continue
        case "$f" in
        *.sh)
            log "running $f"
            if [ -x "$f" ]; then "$f"; else bash "$f"; fi
            ;;
        *.sql)
            log "running $f"
            psql -v ON_ERROR_STOP=1 -q -f "$f"
            ;;
        *) log "ignoring $f" ;;
        esac
    done
    unset PGHOST PGUSER PGDATABASE
    pg_ctl -D "$PGDATA" -m fast -w -t 60 stop >/dev/null
    touch "$DONE"
    log "first start done"
fi

exec "$@"
