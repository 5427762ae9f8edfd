#!/usr/bin/env bash
# `make test`'s compose part: run the compose tier (scripts/compose-test.sh) when Docker can be
# used here, else say LOUDLY that it did not run.
#
# Docker can be used when a daemon answers, or when we are root and dockerd is installed
# (docker-prepare.sh starts it). FLIGHTSAGA_REQUIRE_COMPOSE=1 (CI) turns "cannot run" into a
# failure; FLIGHTSAGA_SKIP_COMPOSE=1 skips on purpose (still loudly, and still an error under
# FLIGHTSAGA_REQUIRE_COMPOSE=1).
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1

not_run() {
    local why=$1
    {
        echo
        echo "######################################################################"
        echo "###  COMPOSE TIER NOT RUN: $why"
        echo "###  (the docker-compose deployment was NOT tested; see scripts/compose-test.sh)"
        echo "######################################################################"
        echo
    } >&2
    if [ "${FLIGHTSAGA_REQUIRE_COMPOSE:-0}" = 1 ]; then
        echo "FLIGHTSAGA_REQUIRE_COMPOSE=1: failing." >&2
        exit 1
    fi
    exit 0
}

if [ "${FLIGHTSAGA_SKIP_COMPOSE:-0}" = 1 ]; then
    not_run "FLIGHTSAGA_SKIP_COMPOSE=1"
fi
if ! command -v docker >/dev/null 2>&1; then
    not_run "no docker CLI (apt-get install docker.io docker-compose)"
fi
if ! docker info >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
        not_run "no Docker daemon answers, and starting one needs root"
    fi
    if ! command -v dockerd >/dev/null 2>&1; then
        not_run "no Docker daemon answers and dockerd is not installed (apt-get install docker.io)"
    fi
fi
if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
        not_run "neither 'docker compose' nor 'docker-compose' is installed"
    fi
fi

exec scripts/compose-test.sh "$@"
