#!/usr/bin/env bash
# The compose test tier: build the image, bring the docker-compose stack up, wait until every
# service is healthy, run `pytest tests/e2e tests/compose` against it (FLIGHTSAGA_STACK=compose:
# the suites use the published ports on 127.0.0.1), and ALWAYS tear it down (`down -v`), even
# when a test fails or the run is interrupted. Exits non-zero on any failure.
#
#   scripts/compose-test.sh [extra pytest args...]      (make compose-test)
#
# Environment: COMPOSE_PROJECT_NAME (default flightsaga), FLIGHTSAGA_BASE_IMAGE (see
# docker-prepare.sh), FLIGHTSAGA_COMPOSE_KEEP=1 keeps the stack up afterwards (for debugging),
# VENV (default .venv). Container logs of a failed run go to artifacts/compose-logs.txt.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
VENV=${VENV:-.venv}
export COMPOSE_PROJECT_NAME=${COMPOSE_PROJECT_NAME:-flightsaga}
export FLIGHTSAGA_BASE_IMAGE=${FLIGHTSAGA_BASE_IMAGE:-flightsaga-base:bookworm}
SERVICES=(seat loyalty payment booking orchestrator dashboard)
HEALTH_TIMEOUT=${FLIGHTSAGA_HEALTH_TIMEOUT:-180}

log() { printf '[compose-test] %s\n' "$*" >&2; }
die() {
    log "ERROR: $*"
    exit 1
}
now() { date +%s; }

T0=$(now)
T_PREPARE=0 T_UP=0 T_TESTS=0 T_DOWN=0
STACK_STARTED=0

# ---- Docker side: packages, daemon, base image, wheelhouse, image ---------------------------
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
compose() { "${COMPOSE[@]}" -f "$ROOT/docker-compose.yml" -p "$COMPOSE_PROJECT_NAME" "$@"; }

state_table() {
    docker ps -a --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME" \
        --format 'table {{.Names}}\t{{.Status}}\t{{.Ports}}' >&2 || true
}

# shellcheck disable=SC2317  # called from the EXIT trap
save_logs() {
    mkdir -p artifacts
    compose logs --no-color --timestamps >artifacts/compose-logs.txt 2>&1 || true
    log "container logs: artifacts/compose-logs.txt; the last lines of each:"
    local s
    for s in "${SERVICES[@]}"; do
        printf -- '--- %s\n' "$s" >&2
        compose logs --no-color --tail=15 "$s" 2>&1 | tail -n 15 >&2 || true
    done
}

# shellcheck disable=SC2317  # the EXIT trap
finish() {
    local rc=$?
    trap - EXIT INT TERM
    if [ "$STACK_STARTED" = 1 ]; then
        [ "$rc" -eq 0 ] || save_logs
        if [ "${FLIGHTSAGA_COMPOSE_KEEP:-0}" = 1 ]; then
            log "FLIGHTSAGA_COMPOSE_KEEP=1: leaving the stack up (tear down: ${COMPOSE[*]} -p $COMPOSE_PROJECT_NAME down -v)"
        else
            local t
            t=$(now)
            compose down -v --remove-orphans >/dev/null 2>&1 || compose down -v --remove-orphans || true
            T_DOWN=$(($(now) - t))
            log "stack torn down (down -v)"
        fi
    fi
    log "wall time: prepare ${T_PREPARE}s, up ${T_UP}s, tests ${T_TESTS}s, down ${T_DOWN}s, compose tier total $(($(now) - T0))s"
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

# ---- up --------------------------------------------------------------------------------------
t=$(now)
STACK_STARTED=1
compose down -v --remove-orphans >/dev/null 2>&1 || true # leftovers of an interrupted run
log "compose up"
compose up -d
log "waiting for ${SERVICES[*]} to be healthy (at most ${HEALTH_TIMEOUT}s)"
deadline=$(($(now) + HEALTH_TIMEOUT))
while :; do
    unhealthy=()
    for s in "${SERVICES[@]}"; do
        id=$(compose ps -a -q "$s" 2>/dev/null || true)
        health=$([ -n "$id" ] && docker inspect -f '{{.State.Status}}/{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$id" 2>/dev/null || echo missing)
        case "$health" in
        running/healthy) ;;
        exited/* | dead/* | missing | */unhealthy)
            state_table
            die "service $s is $health"
            ;;
        *) unhealthy+=("$s:$health") ;;
        esac
    done
    [ "${#unhealthy[@]}" -eq 0 ] && break
    if [ "$(now)" -ge "$deadline" ]; then
        state_table
        die "not healthy after ${HEALTH_TIMEOUT}s: ${unhealthy[*]}"
    fi
    sleep 1
done
T_UP=$(($(now) - t))
log "all healthy after ${T_UP}s:"
state_table

# ---- tests -----------------------------------------------------------------------------------
paths=()
if compgen -G "tests/e2e/test_*.py" >/dev/null || compgen -G "tests/e2e/**/test_*.py" >/dev/null; then
    paths+=(tests/e2e)
else
    log "tests/e2e has no tests yet: running tests/compose only"
fi
paths+=(tests/compose)
log "FLIGHTSAGA_STACK=compose pytest ${paths[*]} $*"
t=$(now)
set +e
FLIGHTSAGA_STACK=compose "$VENV/bin/python" -m pytest -q -rs "${paths[@]}" "$@"
rc=$?
set -e
T_TESTS=$(($(now) - t))
exit "$rc"
