# One image for every FlightSaga service; docker-compose.yml picks the command per container.
#
# The build needs no network: the project and its runtime dependencies come as wheels from
# ./wheelhouse, built on the host (scripts/docker-prepare.sh does it, then `docker build`).
# BASE_IMAGE is any Debian-like image with python3 >= 3.11 and its venv module: the default
# for ordinary users, or a local one (CI imports a debootstrapped bookworm, which has no pip).
ARG BASE_IMAGE=python:3.12-slim

FROM ${BASE_IMAGE} AS builder
LABEL org.opencontainers.image.title=flightsaga
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INDEX=1
RUN python3 -m venv /opt/venv
COPY wheelhouse/ /wheelhouse/
# The import check fails the build (not the first container start) when the wheel misses a module.
RUN /opt/venv/bin/pip install --no-index --find-links /wheelhouse flightsaga \
 && /opt/venv/bin/pip uninstall -y -q pip \
 && /opt/venv/bin/python -c "import importlib; [importlib.import_module(m) for m in ( \
        'sagakit.healthprobe', 'orchestrator.app', 'seat_service.app', 'loyalty_service.app', \
        'payment_service.app', 'booking_service.app', 'dashboard.app')]"

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title=flightsaga \
      org.opencontainers.image.description="FlightSaga: SAGA orchestrator for flight booking (all services)"
ARG APP_UID=10001
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LANG=C.UTF-8 \
    PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
RUN groupadd --system --gid ${APP_UID} flightsaga \
 && useradd --system --uid ${APP_UID} --gid ${APP_UID} --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin flightsaga \
 && mkdir -p /data \
 && chown flightsaga:flightsaga /data
COPY --from=builder /opt/venv /opt/venv
USER flightsaga
WORKDIR /data
# Every service's default; docker-compose.yml overrides it per container.
CMD ["python", "-m", "orchestrator"]
