#!/usr/bin/env bash
# Prepare the Docker side of FlightSaga on a machine like CI's (Debian, root, no image registry):
#
#   1. apt-get install docker.io, docker-compose, debootstrap   (only what is missing)
#   2. start dockerd in the background unless a daemon answers  (log: $DOCKERD_LOG)
#   3. the base image: debootstrap a minimal bookworm with python3 + python3-venv from the
#      Debian mirror this machine's apt already uses, and `docker import` it   (cached)
#   4. the wheelhouse: the project and its runtime dependencies as wheels, built on the host
#   5. `docker build` the one FlightSaga image (no network needed inside the build)
#   6. the PostgreSQL image of docker-compose.postgres.yml (flightsaga-postgres:15): Debian's
#      postgresql-15 on the same base; its .debs are downloaded on the host by the host's apt
#      (resolved against the base's installed packages) and installed offline in the build
#   7. the dev certificates docker-compose.yml mounts (mTLS between services): ./certs, made
#      by `flightsaga certs` unless $FLIGHTSAGA_CERTS_DIR (default ./certs) has a ca.pem
#   8. the Prometheus image of docker-compose.yml (flightsaga-prometheus:local): Debian's
#      prometheus on the same base, its .debs downloaded the same way
#   9. the gRPC proxy image of docker-compose.ha.yml (flightsaga-nginx:local): Debian's nginx on
#      the same base, its .debs downloaded the same way
#  10. the Alertmanager image of docker-compose.yml (flightsaga-alertmanager:local): Debian's
#      prometheus-alertmanager on the same base, its .debs downloaded the same way
#
# Idempotent: a re-run skips what is already there and takes seconds.
#
# Environment (all optional):
#   FLIGHTSAGA_BASE_IMAGE    base image; default flightsaga-base:bookworm (built here). Any other
#                            value (e.g. python:3.12-slim) is used as is: no debootstrap.
#   FLIGHTSAGA_DEBIAN_MIRROR Debian mirror URL for debootstrap; default: read from apt's sources.
#   FLIGHTSAGA_POSTGRES_IMAGE the PostgreSQL image of docker-compose.postgres.yml; default
#                            flightsaga-postgres:15 (built here, on the local base only). Any
#                            other value (e.g. postgres:15, the official image) is not built:
#                            compose pulls it.
#   FLIGHTSAGA_PROMETHEUS_IMAGE the Prometheus image of docker-compose.yml; default
#                            flightsaga-prometheus:local (built here, on the local base only).
#                            Any other value (e.g. prom/prometheus) is not built: compose pulls it.
#   FLIGHTSAGA_ALERTMANAGER_IMAGE the Alertmanager image of docker-compose.yml; default
#                            flightsaga-alertmanager:local (built here, on the local base only).
#                            Any other value (e.g. prom/alertmanager) is not built: compose pulls it.
#   FLIGHTSAGA_NGINX_IMAGE   the proxy image of docker-compose.ha.yml; default
#                            flightsaga-nginx:local (built here, on the local base only). With a
#                            registry, compose builds it itself with apt (docker/nginx/Dockerfile).
#   FLIGHTSAGA_ROOTFS_DIR    scratch dir for debootstrap (default /var/tmp/flightsaga-rootfs).
#   DOCKERD_LOG              where a dockerd started here logs (default /var/log/flightsaga-dockerd.log).
#   VENV                     the project's virtualenv (default .venv).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

LOCAL_BASE=flightsaga-base:bookworm
SUITE=bookworm
BASE_IMAGE=${FLIGHTSAGA_BASE_IMAGE:-$LOCAL_BASE}
ROOTFS_DIR=${FLIGHTSAGA_ROOTFS_DIR:-/var/tmp/flightsaga-rootfs}
DOCKERD_LOG=${DOCKERD_LOG:-/var/log/flightsaga-dockerd.log}
VENV=${VENV:-.venv}
WHEELHOUSE=$ROOT/wheelhouse

log() { printf '[docker-prepare] %s\n' "$*" >&2; }
die() {
    log "ERROR: $*"
    exit 1
}

# The image name lives in docker-compose.yml only, so the build and compose agree.
IMAGE=$(sed -n 's/^[[:space:]]*image:[[:space:]]*"\{0,1\}\([^"[:space:]#]*\).*/\1/p' docker-compose.yml | head -n 1)
[ -n "$IMAGE" ] || die "no 'image:' found in docker-compose.yml"
# Likewise the local PostgreSQL image's name: the default in docker-compose.postgres.yml.
LOCAL_PG_IMAGE=$(sed -n 's/.*FLIGHTSAGA_POSTGRES_IMAGE:-\([^}]*\)}.*/\1/p' docker-compose.postgres.yml | head -n 1)
[ -n "$LOCAL_PG_IMAGE" ] || die "no FLIGHTSAGA_POSTGRES_IMAGE default found in docker-compose.postgres.yml"
PG_IMAGE=${FLIGHTSAGA_POSTGRES_IMAGE:-$LOCAL_PG_IMAGE}
LOCAL_PROM_IMAGE=$(sed -n 's/.*FLIGHTSAGA_PROMETHEUS_IMAGE:-\([^}]*\)}.*/\1/p' docker-compose.yml | head -n 1)
[ -n "$LOCAL_PROM_IMAGE" ] || die "no FLIGHTSAGA_PROMETHEUS_IMAGE default found in docker-compose.yml"
PROM_IMAGE=${FLIGHTSAGA_PROMETHEUS_IMAGE:-$LOCAL_PROM_IMAGE}
LOCAL_AM_IMAGE=$(sed -n 's/.*FLIGHTSAGA_ALERTMANAGER_IMAGE:-\([^}]*\)}.*/\1/p' docker-compose.yml | head -n 1)
[ -n "$LOCAL_AM_IMAGE" ] || die "no FLIGHTSAGA_ALERTMANAGER_IMAGE default found in docker-compose.yml"
AM_IMAGE=${FLIGHTSAGA_ALERTMANAGER_IMAGE:-$LOCAL_AM_IMAGE}
LOCAL_NGINX_IMAGE=$(sed -n 's/.*FLIGHTSAGA_NGINX_IMAGE:-\([^}]*\)}.*/\1/p' docker-compose.ha.yml | head -n 1)
[ -n "$LOCAL_NGINX_IMAGE" ] || die "no FLIGHTSAGA_NGINX_IMAGE default found in docker-compose.ha.yml"
NGINX_IMAGE=${FLIGHTSAGA_NGINX_IMAGE:-$LOCAL_NGINX_IMAGE}

SECONDS_START=$(date +%s)
step_start=0
step() {
    step_start=$(date +%s)
    log "== $*"
}
step_done() { log "   done in $(($(date +%s) - step_start))s"; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root for: $*"
    fi
}

apt_install() {
    # Another apt may be running (another install on the same machine): wait for its lock.
    local apt=(apt-get -o DPkg::Lock::Timeout=600 -q -y)
    if ! as_root env DEBIAN_FRONTEND=noninteractive "${apt[@]}" install "$@"; then
        log "apt-get install failed; refreshing package lists and retrying"
        as_root "${apt[@]}" update
        as_root env DEBIAN_FRONTEND=noninteractive "${apt[@]}" install "$@"
    fi
}

have_compose() {
    docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1
}

# ---------------------------------------------------------------------------------------------
ensure_packages() {
    step "packages"
    local missing=()
    if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
        missing+=(docker.io)
    fi
    have_compose || missing+=(docker-compose)
    if [ "$BASE_IMAGE" = "$LOCAL_BASE" ] && ! command -v debootstrap >/dev/null 2>&1; then
        missing+=(debootstrap)
    fi
    # A daemon that already answers needs no dockerd here (e.g. a developer's Docker Desktop).
    if docker info >/dev/null 2>&1; then
        local keep=()
        for p in "${missing[@]}"; do [ "$p" = docker.io ] || keep+=("$p"); done
        missing=("${keep[@]}")
    fi
    if [ "${#missing[@]}" -gt 0 ]; then
        log "installing: ${missing[*]}"
        apt_install "${missing[@]}"
    else
        log "all present"
    fi
    step_done
}

# A live (not zombie) process.
pid_alive() {
    case "$(ps -o stat= -p "$1" 2>/dev/null)" in
    Z* | "") return 1 ;;
    *) return 0 ;;
    esac
}

# The dockerd this script launched (its pid until exec turns it into dockerd), or any live
# dockerd. The launched pid matters: for its first moments that process is still the wrapping
# bash closing descriptors, and `pgrep -x dockerd` does not see it yet.
LAUNCHED_PID=
dockerd_alive() {
    local pid
    if [ -n "$LAUNCHED_PID" ] && pid_alive "$LAUNCHED_PID"; then
        return 0
    fi
    for pid in $(pgrep -x dockerd 2>/dev/null); do
        pid_alive "$pid" && return 0
    done
    return 1
}

ensure_dockerd() {
    step "docker daemon"
    if docker info >/dev/null 2>&1; then
        log "a daemon answers already"
        step_done
        return
    fi
    command -v dockerd >/dev/null 2>&1 || die "no docker daemon answers and dockerd is not installed"
    [ "$(id -u)" -eq 0 ] || die "no docker daemon answers; start one (dockerd needs root)"
    # dockerd needs the cgroup hierarchies mounted; most machines' init does it, else this does.
    if ! grep -qE '^[^ ]+ /sys/fs/cgroup[/ ]' /proc/mounts && command -v cgroupfs-mount >/dev/null 2>&1; then
        log "mounting cgroups (cgroupfs-mount)"
        cgroupfs-mount || true
    fi
    if dockerd_alive; then
        log "dockerd is running but does not answer yet; waiting"
    else
        # A daemon killed earlier (e.g. with the session that started it) leaves its pid file.
        rm -f /var/run/docker.pid
        mkdir -p "$(dirname "$DOCKERD_LOG")"
        log "starting dockerd (log: $DOCKERD_LOG)"
        # setsid + nohup: the daemon outlives this script (the compose tier needs it after).
        # Without the descriptors this script inherited beyond stdio: started under `flock
        # <lock> scripts/compose-test.sh`, the daemon would hold that lock for as long as it runs.
        # shellcheck disable=SC2016 # expanded by the inner bash
        setsid nohup bash -c 'for fd in /proc/self/fd/*; do fd=${fd##*/}
            [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done; exec dockerd' \
            >"$DOCKERD_LOG" 2>&1 </dev/null &
        LAUNCHED_PID=$!
    fi
    local i
    for i in $(seq 1 120); do
        if docker info >/dev/null 2>&1; then
            log "dockerd answers after ${i}s"
            step_done
            return
        fi
        dockerd_alive || break
        sleep 1
    done
    if [ -r "$DOCKERD_LOG" ]; then
        log "dockerd did not come up; the last lines of $DOCKERD_LOG:"
        tail -n 60 "$DOCKERD_LOG" >&2
    else
        log "a dockerd not started here does not answer (its log is wherever it was started)"
    fi
    die "no docker daemon"
}

# The first Debian mirror in apt's sources (deb822 .sources first, then one-line .list files).
debian_mirror() {
    if [ -n "${FLIGHTSAGA_DEBIAN_MIRROR:-}" ]; then
        printf '%s\n' "$FLIGHTSAGA_DEBIAN_MIRROR"
        return
    fi
    local url="" f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -r "$f" ] || continue
        # Prefer a deb stanza carrying the suite itself (not -security/-updates), else any deb one.
        url=$(awk -v suite="$SUITE" '
            function flush() {
                if (uris != "" && types ~ /(^|[ \t])deb([ \t]|$)/ && enabled != "no") {
                    if (first == "" && uris !~ /security/) first = uris
                    if (exact == "" && (" " suites " ") ~ (" " suite " ")) exact = uris
                }
                uris = ""; types = ""; suites = ""; enabled = ""
            }
            /^[ \t]*$/ { flush(); next }
            /^URIs:/     { sub(/^URIs:[ \t]*/, ""); split($0, u, /[ \t]+/); uris = u[1] }
            /^Types:/    { sub(/^Types:[ \t]*/, ""); types = $0 }
            /^Suites:/   { sub(/^Suites:[ \t]*/, ""); suites = $0 }
            /^Enabled:/  { sub(/^Enabled:[ \t]*/, ""); enabled = tolower($0) }
            END { flush(); if (exact != "") print exact; else if (first != "") print first }
        ' "$f")
        [ -n "$url" ] && break
    done
    if [ -z "$url" ]; then
        for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
            [ -r "$f" ] || continue
            # deb [options] URL suite components...
            url=$(awk '$1 == "deb" {
                    i = 2; if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                    if ($i !~ /security/) { print $i; exit }
                }' "$f")
            [ -n "$url" ] && break
        done
    fi
    [ -n "$url" ] || return 1
    printf '%s\n' "$url"
}

ensure_base_image() {
    step "base image $BASE_IMAGE"
    if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
        log "present (cached)"
        step_done
        return
    fi
    if [ "$BASE_IMAGE" != "$LOCAL_BASE" ]; then
        log "not present locally; docker build will pull it"
        step_done
        return
    fi
    local mirror
    mirror=$(debian_mirror) || die "no Debian mirror found in /etc/apt/sources.list{,.d/*}; set FLIGHTSAGA_DEBIAN_MIRROR"
    log "debootstrap $SUITE (minbase + python3, python3-venv) from the apt mirror into $ROOTFS_DIR"
    as_root rm -rf "$ROOTFS_DIR"
    if ! as_root debootstrap --variant=minbase --include=python3,python3-venv \
        "$SUITE" "$ROOTFS_DIR" "$mirror" >"$ROOTFS_DIR.log" 2>&1; then
        tail -n 40 "$ROOTFS_DIR.log" >&2 || true
        die "debootstrap failed (full log: $ROOTFS_DIR.log)"
    fi
    # Slim it: package caches, lists, docs and locales are not needed at run time.
    as_root rm -rf "$ROOTFS_DIR"/var/cache/apt/archives/*.deb "$ROOTFS_DIR"/var/lib/apt/lists/* \
        "$ROOTFS_DIR"/usr/share/doc/* "$ROOTFS_DIR"/usr/share/man/* "$ROOTFS_DIR"/usr/share/info/* \
        "$ROOTFS_DIR"/usr/share/locale/* "$ROOTFS_DIR"/var/log/*.log "$ROOTFS_DIR"/var/cache/debconf/*-old
    as_root tar -C "$ROOTFS_DIR" -c . | docker import \
        --change 'ENV LANG=C.UTF-8' \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["python3"]' \
        - "$LOCAL_BASE" >/dev/null
    as_root rm -rf "$ROOTFS_DIR" "$ROOTFS_DIR.log"
    log "imported $LOCAL_BASE ($(docker image inspect -f '{{.Size}}' "$LOCAL_BASE" | awk '{printf "%.0f MB", $1/1e6}'))"
    step_done
}

# pip, quiet: its output (setuptools' packaging warnings, unreachable find-links dirs, ...) is
# shown when it fails, or always with FLIGHTSAGA_VERBOSE=1.
quiet_pip() {
    local out rc=0
    out=$("$VENV/bin/pip" "$1" -q "${@:2}" 2>&1) || rc=$?
    if [ "$rc" -ne 0 ] || [ "${FLIGHTSAGA_VERBOSE:-0}" = 1 ]; then
        printf '%s\n' "$out" >&2
    fi
    return "$rc"
}

pyver() { "$@" -c 'import sys; print("%d.%d" % sys.version_info[:2])'; }

ensure_wheelhouse() {
    step "wheelhouse"
    [ -x "$VENV/bin/python" ] || die "no virtualenv at $VENV (run: make venv)"
    local host_py base_py stamp
    host_py=$(pyver "$VENV/bin/python")
    base_py=$(docker run --rm --network none --entrypoint python3 "$BASE_IMAGE" \
        -c 'import sys; print("%d.%d" % sys.version_info[:2])') ||
        die "cannot run python3 in $BASE_IMAGE"
    mkdir -p "$WHEELHOUSE"
    # The dependency wheels change only with pyproject.toml and the target Python: cache them.
    stamp="py$base_py-$(sha256sum pyproject.toml | cut -c1-16)"
    if [ "$(cat "$WHEELHOUSE/.stamp" 2>/dev/null)" != "$stamp" ]; then
        log "dependency wheels for Python $base_py (host venv: $host_py)"
        rm -f "$WHEELHOUSE"/*.whl "$WHEELHOUSE/.stamp"
        if [ "$host_py" = "$base_py" ]; then
            quiet_pip wheel --wheel-dir "$WHEELHOUSE" .
        else
            # The base's Python differs from the host's: fetch binary wheels for its version.
            quiet_pip wheel --no-deps --wheel-dir "$WHEELHOUSE" .
            quiet_pip download --only-binary=:all: --dest "$WHEELHOUSE" \
                --python-version "$base_py" --implementation cp \
                --platform "manylinux_2_28_$(uname -m)" --platform "manylinux_2_17_$(uname -m)" \
                --platform "manylinux2014_$(uname -m)" "$WHEELHOUSE"/flightsaga-*.whl
        fi
        printf '%s\n' "$stamp" >"$WHEELHOUSE/.stamp"
    fi
    # The project's own wheel is rebuilt every time (it carries the source), reproducibly: the same
    # source gives the same bytes, so docker build's cache skips the install when nothing changed.
    # A stale setuptools build/ dir would smuggle deleted modules into the wheel: drop it first.
    rm -rf "$ROOT/build" "$WHEELHOUSE"/flightsaga-*.whl
    SOURCE_DATE_EPOCH=315532800 quiet_pip wheel --no-deps --no-build-isolation \
        --wheel-dir "$WHEELHOUSE" .
    ls "$WHEELHOUSE"/flightsaga-*.whl >/dev/null 2>&1 || die "building the project wheel failed"
    log "$(find "$WHEELHOUSE" -name '*.whl' | wc -l) wheels in $WHEELHOUSE"
    step_done
}

build_image() {
    step "docker build $IMAGE (base $BASE_IMAGE)"
    # The classic builder never caches `COPY --from`, so skip the build when its inputs (the
    # Dockerfile, the wheels, the base image) are those of the image we already have.
    local inputs
    inputs=$({
        docker image inspect -f '{{.Id}}' "$BASE_IMAGE" 2>/dev/null || echo "$BASE_IMAGE"
        sha256sum Dockerfile .dockerignore "$WHEELHOUSE"/*.whl
    } | sha256sum | cut -c1-32)
    if up_to_date "$IMAGE" "$inputs"; then
        step_done
        return
    fi
    labelled_build "$IMAGE" . "$inputs" flightsaga
    step_done
}

# `docker build <context> -t <image>` labelled with its inputs' digest (what the steps above
# compare to skip a build), then the earlier builds of the image (dangling now, found by the
# title label of its Dockerfile) dropped.
#   labelled_build <image> <context dir> <inputs> <title label>
labelled_build() {
    local image=$1 ctx=$2 inputs=$3 title=$4 build_log
    # Without the buildx plugin a recent CLI refuses BuildKit; the classic builder does all we need.
    if ! docker buildx version >/dev/null 2>&1; then
        export DOCKER_BUILDKIT=0
    fi
    build_log=$(mktemp)
    if ! docker build --build-arg BASE_IMAGE="$BASE_IMAGE" --label "org.flightsaga.inputs=$inputs" \
        -t "$image" "$ctx" >"$build_log" 2>&1; then
        tail -n 60 "$build_log" >&2
        rm -f "$build_log"
        die "docker build of $image failed"
    fi
    rm -f "$build_log"
    docker image prune -f --filter "label=org.opencontainers.image.title=$title" >/dev/null
    log "built $image ($(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}'))"
}

# True (and says so) when <image> carries the label of these <inputs>: nothing to build.
up_to_date() {
    local image=$1 inputs=$2
    if [ "$(docker image inspect -f '{{index .Config.Labels "org.flightsaga.inputs"}}' "$image" \
        2>/dev/null)" = "$inputs" ]; then
        log "up to date (inputs $inputs)"
        return 0
    fi
    return 1
}

# The .debs of some packages and whatever they need beyond the base's installed packages, from
# the host's apt (its sources, proxy and keys), into <context>/debs. Cached per base image.
#   download_debs <base image id> <context dir> <package>...   (the first package must come)
download_debs() {
    local base_id=$1 ctx=$2 stamp status host_suite
    shift 2
    local packages=("$@")
    stamp="$base_id ${packages[*]}"
    if [ "$(cat "$ctx/debs.stamp" 2>/dev/null)" = "$stamp" ] &&
        compgen -G "$ctx/debs/${packages[0]}_*.deb" >/dev/null; then
        log "the .debs are cached ($(find "$ctx/debs" -name '*.deb' | wc -l) in $ctx/debs)"
        return
    fi
    command -v apt-get >/dev/null 2>&1 || die "the local ${packages[0]} image needs apt-get on the host (or use the official image where a registry is reachable: see the variables above)"
    host_suite=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
    [ "$host_suite" = "$SUITE" ] || die "the host's apt is for '${host_suite:-?}', the base is $SUITE: its .debs would not fit (use the official image where a registry is reachable: see the variables above)"
    rm -rf "$ctx/debs" "$ctx/debs.stamp"
    mkdir -p "$ctx/debs/partial"
    status="$ctx/base-dpkg-status"
    docker run --rm --network none --entrypoint cat "$BASE_IMAGE" /var/lib/dpkg/status >"$status" ||
        die "cannot read the dpkg status of $BASE_IMAGE"
    # Resolved as if installing into the base (its dpkg status), downloaded only: the host's own
    # packages and locks are not touched.
    local apt=(apt-get -q -y -o "Dir::State::status=$status" -o "Dir::Cache::archives=$ctx/debs"
        -o Debug::NoLocking=1 -o APT::Install-Recommends=false --download-only)
    log "downloading ${packages[*]} and dependencies (host apt, resolved against $BASE_IMAGE)"
    if ! "${apt[@]}" install "${packages[@]}" >"$ctx/apt.log" 2>&1; then
        log "apt-get --download-only failed; refreshing the host's package lists and retrying"
        as_root apt-get -o DPkg::Lock::Timeout=600 -q -y update >>"$ctx/apt.log" 2>&1 || true
        if ! "${apt[@]}" install "${packages[@]}" >>"$ctx/apt.log" 2>&1; then
            tail -n 30 "$ctx/apt.log" >&2
            die "downloading ${packages[*]} failed (log: $ctx/apt.log)"
        fi
    fi
    rm -rf "$ctx/debs/partial" "$ctx/debs/lock" "$status"
    compgen -G "$ctx/debs/${packages[0]}_*.deb" >/dev/null || die "no ${packages[0]} .deb was downloaded (log: $ctx/apt.log)"
    printf '%s\n' "$stamp" >"$ctx/debs.stamp"
    log "$(find "$ctx/debs" -name '*.deb' | wc -l) .debs ($(du -sh "$ctx/debs" | cut -f1)) in $ctx/debs"
}

# An image of Debian packages on the local base (PostgreSQL, Prometheus, Alertmanager, the gRPC
# proxy): the packages' .debs downloaded by the host's apt (download_debs) and installed offline
# by the image's Dockerfile, from a build context of its own under .docker-build/ (the
# Dockerfile, the files named and the .debs: nothing else is sent). Built only when the image is the local
# default and the base is the local one; otherwise <not here> says what happens instead.
#   deb_image <what> <image> <local image> <source dir> <files> <not here> <package>...
deb_image() {
    local what=$1 image=$2 local_image=$3 src=$4 files=$5 not_here=$6 base_id ctx inputs
    shift 6
    step "$what $image"
    if [ "$image" != "$local_image" ] || [ "$BASE_IMAGE" != "$LOCAL_BASE" ]; then
        log "not built here (only $local_image on the local $LOCAL_BASE is): $not_here"
        step_done
        return
    fi
    ctx=$ROOT/.docker-build/$(basename "$src")
    base_id=$(docker image inspect -f '{{.Id}}' "$BASE_IMAGE")
    download_debs "$base_id" "$ctx" "$@"
    # shellcheck disable=SC2086 # $files is a list of names
    (cd "$src" && cp $files "$ctx/")
    inputs=$({
        echo "$base_id"
        # shellcheck disable=SC2086
        cd "$ctx" && sha256sum $files debs/*.deb
    } | sha256sum | cut -c1-32)
    if up_to_date "$image" "$inputs"; then
        step_done
        return
    fi
    labelled_build "$image" "$ctx" "$inputs" "flightsaga-$(basename "$src")"
    step_done
}

# Certificates for docker-compose.yml's mTLS. Kept between runs (a re-run reuses them); delete
# the folder to make new ones (docs/security.md#rotating).
ensure_certs() {
    local dir=${FLIGHTSAGA_CERTS_DIR:-$ROOT/certs}
    if [ -f "$dir/ca.pem" ]; then
        return 0
    fi
    step "dev certificates in $dir"
    [ -x "$VENV/bin/flightsaga" ] || die "no virtualenv at $VENV (run: make venv)"
    "$VENV/bin/flightsaga" certs "$dir" >/dev/null
    step_done
}

ensure_packages
ensure_dockerd
ensure_base_image
ensure_wheelhouse
build_image
deb_image "PostgreSQL image" "$PG_IMAGE" "$LOCAL_PG_IMAGE" docker/postgres \
    "Dockerfile docker-entrypoint.sh" \
    "compose pulls FLIGHTSAGA_POSTGRES_IMAGE (with a registry: postgres:15)" postgresql-15
# The configuration is mounted by compose: only the Dockerfile goes into the context.
deb_image "Prometheus image" "$PROM_IMAGE" "$LOCAL_PROM_IMAGE" docker/prometheus Dockerfile \
    "compose pulls FLIGHTSAGA_PROMETHEUS_IMAGE (with a registry: prom/prometheus)" prometheus
deb_image "Alertmanager image" "$AM_IMAGE" "$LOCAL_AM_IMAGE" docker/alertmanager Dockerfile \
    "compose pulls FLIGHTSAGA_ALERTMANAGER_IMAGE (with a registry: prom/alertmanager)" \
    prometheus-alertmanager
# The HA stack's gRPC proxy (docker-compose.ha.yml): docker/nginx/Dockerfile installs the .debs
# when its context has some, else runs apt-get: compose builds it that way for registry users.
deb_image "gRPC proxy image" "$NGINX_IMAGE" "$LOCAL_NGINX_IMAGE" docker/nginx Dockerfile \
    "compose builds docker/nginx with apt when the HA stack first starts" nginx
ensure_certs
log "ready in $(($(date +%s) - SECONDS_START))s"
