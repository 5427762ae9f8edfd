#!/usr/bin/env bash
# The compose test tier: build the images, then one pass per database backend, each of which
# brings the docker-compose stack up, waits until every service is healthy, runs pytest against
# it (FLIGHTSAGA_STACK=compose: the suites use the published ports on 127.0.0.1), and ALWAYS
# tears it down (`down -v`), even when a test fails or the run is interrupted:
#
#   sqlite    docker-compose.yml                               pytest tests/e2e tests/compose
#   postgres  docker-compose.yml + docker-compose.postgres.yml pytest tests/compose
#             (its smoke, container faults and volumes tests, and tests/compose/test_postgres.py:
#             the records really are in PostgreSQL and outlive a restart of the orchestrator)
#   ha        docker-compose.yml + docker-compose.postgres.yml + docker-compose.ha.yml
#             pytest tests/compose/test_smoke.py tests/compose/test_ha.py (three orchestrator
#             replicas behind the nginx gRPC proxy, two of each participant; one container of
#             each kind killed during a booking run, then the invariants)
#
# Every pass runs even when an earlier one fails; exits non-zero on any failure.
#
#   scripts/compose-test.sh [extra pytest args...]      (make compose-test)
#
# Environment: COMPOSE_PROJECT_NAME (default flightsaga), FLIGHTSAGA_BASE_IMAGE and
# FLIGHTSAGA_POSTGRES_IMAGE and FLIGHTSAGA_NGINX_IMAGE (see docker-prepare.sh),
# FLIGHTSAGA_COMPOSE_DATABASES (the passes, default "sqlite postgres ha"; leaving one out is reported loudly, and is a failure under
# FLIGHTSAGA_REQUIRE_COMPOSE=1), FLIGHTSAGA_COMPOSE_KEEP=1 keeps the last pass's stack up
# afterwards (for debugging), VENV (default .venv), FLIGHTSAGA_COMPOSE_<SERVICE>_PORT (the host
# ports docker-compose.yml publishes, default 50150-50154 and dashboard 8180, away from `make up`'s;
# the tests read the same variables, tests/e2e/tools.py COMPOSE_PORTS). Container logs of a failed
# pass go to artifacts/compose-logs.txt.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
VENV=${VENV:-.venv}
export COMPOSE_PROJECT_NAME=${COMPOSE_PROJECT_NAME:-flightsaga}
export FLIGHTSAGA_BASE_IMAGE=${FLIGHTSAGA_BASE_IMAGE:-flightsaga-base:bookworm}
ALL_DATABASES=(sqlite postgres ha)
read -r -a DATABASES <<<"${FLIGHTSAGA_COMPOSE_DATABASES:-${ALL_DATABASES[*]}}"
HEALTH_TIMEOUT=${FLIGHTSAGA_HEALTH_TIMEOUT:-180}
# docker-compose.yml mounts these (docker-prepare.sh makes them): mTLS between the services.
export FLIGHTSAGA_CERTS_DIR=${FLIGHTSAGA_CERTS_DIR:-$ROOT/certs}
CERTS=$FLIGHTSAGA_CERTS_DIR
LOGS=artifacts/compose-logs.txt

log() { printf '[compose-test] %s\n' "$*" >&2; }
die() {
    log "ERROR: $*"
    exit 1
}
now() { date +%s; }

for db in "${DATABASES[@]}"; do
    case "$db" in
    sqlite | postgres | ha) ;;
    *) die "FLIGHTSAGA_COMPOSE_DATABASES: unknown backend '$db' (known: ${ALL_DATABASES[*]})" ;;
    esac
done
[ "${#DATABASES[@]}" -gt 0 ] || die "FLIGHTSAGA_COMPOSE_DATABASES is empty"

T0=$(now)
T_PREPARE=0
TIMES=()   # "<db>: up Xs, tests Ys, down Zs" per pass
RESULTS=() # "<db> PASSED|FAILED (...)" per pass
PASS="" PASS_FILES=() PASS_SERVICES=() T_UP=0 T_TESTS=0 T_DOWN=0
STACK_STARTED=0

# ---- Docker side: packages, daemon, base image, wheelhouse, images --------------------------
t=$(now)
scripts/docker-prepare.sh
T_PREPARE=$(($(now) - t))

# Compose v2 (`docker compose`) when the CLI has it, else v1 (`docker-compose`).
if docker compose version >/dev/null 2>&1; then
    COMPOSE=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
    COMPOSE=(docker-compose)
else
    die "neither 'docker compose' nor 'docker-compose' is installed"
fi
export FLIGHTSAGA_COMPOSE="${COMPOSE[*]}" # the tests drive the stack with the same CLI
log "using: ${COMPOSE[*]} ($("${COMPOSE[@]}" version --short 2>/dev/null || echo '?')), project $COMPOSE_PROJECT_NAME"

# compose with the current pass's files; compose_all with every file (every service and volume
# either pass may have left behind: the teardown of an interrupted run).
compose() {
    local files=() f
    for f in "${PASS_FILES[@]}"; do files+=(-f "$ROOT/$f"); done
    "${COMPOSE[@]}" "${files[@]}" -p "$COMPOSE_PROJECT_NAME" "$@"
}
compose_all() {
    "${COMPOSE[@]}" -f "$ROOT/docker-compose.yml" -f "$ROOT/docker-compose.postgres.yml" \
        -f "$ROOT/docker-compose.ha.yml" -p "$COMPOSE_PROJECT_NAME" "$@"
}

state_table() {
    docker ps -a --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME" \
        --format 'table {{.Names}}\t{{.Status}}\t{{.Ports}}' >&2 || true
}

save_logs() {
    mkdir -p artifacts
    {
        echo "===== pass $PASS (${PASS_FILES[*]}) ====="
        compose logs --no-color --timestamps 2>&1 || true
    } >>"$LOGS"
    log "container logs: $LOGS; the last lines of each:"
    local s
    for s in "${PASS_SERVICES[@]}"; do
        printf -- '--- %s\n' "$s" >&2
        compose logs --no-color --tail=15 "$s" 2>&1 | tail -n 15 >&2 || true
    done
}

teardown() {
    local rc=$1 t
    [ "$STACK_STARTED" = 1 ] || return 0
    [ "$rc" -eq 0 ] || save_logs
    STACK_STARTED=0
    t=$(now)
    compose down -v --remove-orphans >/dev/null 2>&1 || compose down -v --remove-orphans || true
    T_DOWN=$(($(now) - t))
    log "$PASS stack torn down (down -v)"
}

report_times() {
    local line="prepare ${T_PREPARE}s" t
    for t in "${TIMES[@]}"; do line+="; $t"; done
    log "wall time: $line; compose tier total $(($(now) - T0))s"
}

# shellcheck disable=SC2317  # the EXIT trap: a run cut short (error, Ctrl-C) mid-pass
finish() {
    local rc=$?
    trap - EXIT INT TERM
    if [ "$STACK_STARTED" = 1 ]; then
        if [ "${FLIGHTSAGA_COMPOSE_KEEP:-0}" = 1 ]; then
            [ "$rc" -eq 0 ] || save_logs
            log "FLIGHTSAGA_COMPOSE_KEEP=1: leaving the $PASS stack up (tear down: ${COMPOSE[*]} $(printf -- '-f %s ' "${PASS_FILES[@]}")-p $COMPOSE_PROJECT_NAME down -v)"
        else
            teardown "$rc"
        fi
        TIMES+=("$PASS: up ${T_UP}s, tests ${T_TESTS}s, down ${T_DOWN}s (cut short)")
    fi
    report_times
    if [ "$rc" -eq 0 ]; then
        log "COMPOSE TIER PASSED"
    else
        log "COMPOSE TIER FAILED (exit $rc)"
    fi
    exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- one pass: up -> healthy -> pytest -> down -v ---------------------------------------------
# Returns pytest's exit code, or 1 when the stack does not come up healthy.
run_pass() {
    PASS=$1 T_UP=0 T_TESTS=0 T_DOWN=0
    local paths=() t rc s id health deadline unhealthy
    PASS_SERVICES=(seat loyalty payment booking orchestrator dashboard prometheus alertmanager
        alert-webhook)
    case "$PASS" in
    sqlite)
        PASS_FILES=(docker-compose.yml)
        if compgen -G "tests/e2e/test_*.py" >/dev/null || compgen -G "tests/e2e/**/test_*.py" >/dev/null; then
            paths+=(tests/e2e)
        else
            log "tests/e2e has no tests yet: running tests/compose only"
        fi
        ;;
    postgres)
        PASS_FILES=(docker-compose.yml docker-compose.postgres.yml)
        PASS_SERVICES=(postgres "${PASS_SERVICES[@]}")
        local pg_image=${FLIGHTSAGA_POSTGRES_IMAGE:-flightsaga-postgres:15}
        if [ -z "${FLIGHTSAGA_POSTGRES_IMAGE:-}" ] && ! docker image inspect "$pg_image" >/dev/null 2>&1; then
            log "ERROR: the $pg_image image was not built (docker-prepare.sh builds it on the local"
            log "       base only); where a registry is reachable: FLIGHTSAGA_POSTGRES_IMAGE=postgres:15"
            return 1
        fi
        ;;
    ha)
        # The smoke test (through the proxy: the one published orchestrator address) and the
        # replica tests; the other compose tests restart or stop the single orchestrator.
        PASS_FILES=(docker-compose.yml docker-compose.postgres.yml docker-compose.ha.yml)
        PASS_SERVICES=(postgres "${PASS_SERVICES[@]}" orchestrator-1 orchestrator-2 orchestrator-3
            seat-2 loyalty-2 payment-2 booking-2)
        paths+=(tests/compose/test_smoke.py tests/compose/test_ha.py)
        ;;
    esac
    [ "$PASS" = ha ] || paths+=(tests/compose)
    log "===== pass $PASS: ${PASS_FILES[*]}"

    t=$(now)
    STACK_STARTED=1
    compose_all down -v --remove-orphans >/dev/null 2>&1 || true # leftovers of an interrupted run
    log "compose up"
    if ! compose up -d; then
        T_UP=$(($(now) - t))
        state_table
        log "ERROR: compose up failed"
        return 1
    fi
    log "waiting for ${PASS_SERVICES[*]} to be healthy (at most ${HEALTH_TIMEOUT}s)"
    deadline=$(($(now) + HEALTH_TIMEOUT))
    while :; do
        unhealthy=()
        for s in "${PASS_SERVICES[@]}"; do
            id=$(compose ps -a -q "$s" 2>/dev/null || true)
            health=$([ -n "$id" ] && docker inspect -f '{{.State.Status}}/{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$id" 2>/dev/null || echo missing)
            case "$health" in
            running/healthy) ;;
            exited/* | dead/* | missing | */unhealthy)
                T_UP=$(($(now) - t))
                state_table
                log "ERROR: service $s is $health"
                return 1
                ;;
            *) unhealthy+=("$s:$health") ;;
            esac
        done
        [ "${#unhealthy[@]}" -eq 0 ] && break
        if [ "$(now)" -ge "$deadline" ]; then
            T_UP=$(($(now) - t))
            state_table
            log "ERROR: not healthy after ${HEALTH_TIMEOUT}s: ${unhealthy[*]}"
            return 1
        fi
        sleep 1
    done
    T_UP=$(($(now) - t))
    log "all healthy after ${T_UP}s:"
    state_table

    local database=$PASS
    if [ "$PASS" = ha ]; then
        database=postgres # the HA stack is the PostgreSQL stack plus replicas
    fi
    log "FLIGHTSAGA_STACK=compose FLIGHTSAGA_COMPOSE_DATABASE=$database pytest ${paths[*]} ${PYTEST_ARGS[*]}"
    # The stack speaks mTLS: the tests, the CLI and grpcurl present the `client` certificate.
    t=$(now)
    set +e
    FLIGHTSAGA_STACK=compose FLIGHTSAGA_COMPOSE_DATABASE=$database \
        FLIGHTSAGA_CERTS_DIR="$CERTS" TLS_CA_FILE="$CERTS/ca.pem" \
        TLS_CERT_FILE="$CERTS/client.pem" TLS_KEY_FILE="$CERTS/client-key.pem" \
        FLIGHTSAGA_COMPOSE_FILES="$(
            IFS=:
            echo "${PASS_FILES[*]}"
        )" \
        "$VENV/bin/python" -m pytest -q -rs "${paths[@]}" "${PYTEST_ARGS[@]}"
    rc=$?
    set -e
    T_TESTS=$(($(now) - t))
    return "$rc"
}

PYTEST_ARGS=("$@")
rm -f "$LOGS"
failed=0
last=${DATABASES[${#DATABASES[@]} - 1]}
for db in "${DATABASES[@]}"; do
    rc=0
    run_pass "$db" || rc=$?
    if [ "$db" = "$last" ] && [ "${FLIGHTSAGA_COMPOSE_KEEP:-0}" = 1 ]; then
        [ "$rc" -eq 0 ] || save_logs
        log "FLIGHTSAGA_COMPOSE_KEEP=1: leaving the $PASS stack up (tear down: ${COMPOSE[*]} $(printf -- '-f %s ' "${PASS_FILES[@]}")-p $COMPOSE_PROJECT_NAME down -v)"
        STACK_STARTED=0
    else
        teardown "$rc"
    fi
    TIMES+=("$db: up ${T_UP}s, tests ${T_TESTS}s, down ${T_DOWN}s")
    if [ "$rc" -eq 0 ]; then
        RESULTS+=("$db PASSED")
    else
        RESULTS+=("$db FAILED (exit $rc)")
        failed=1
    fi
done
log "passes: $(
    IFS=,
    echo "${RESULTS[*]}"
)"

# A pass left out on purpose is said loudly; CI (FLIGHTSAGA_REQUIRE_COMPOSE=1) runs them all.
for db in "${ALL_DATABASES[@]}"; do
    case " ${DATABASES[*]} " in
    *" $db "*) ;;
    *)
        {
            echo
            echo "######################################################################"
            echo "###  COMPOSE TIER: the $db pass NOT RUN (FLIGHTSAGA_COMPOSE_DATABASES=${DATABASES[*]})"
            echo "######################################################################"
            echo
        } >&2
        if [ "${FLIGHTSAGA_REQUIRE_COMPOSE:-0}" = 1 ]; then
            log "FLIGHTSAGA_REQUIRE_COMPOSE=1: every pass must run"
            failed=1
        fi
        ;;
    esac
done
exit "$failed"
