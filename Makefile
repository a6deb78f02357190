# ghsync: `make demo` to try it, `make test` to check it.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PG_URL ?= postgres://postgres@127.0.0.1:5432/ghsync
REDIS_URL ?= redis://127.0.0.1:6379/14
PYTEST_ARGS ?=
DEMO_ARGS ?=
FRESH_CHECK ?=
ENSURE := scripts/ensure_system_tools.sh

.PHONY: install test test-default test-services lint format demo bench faults fresh-check prod-check clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || { PYTHON="$(PYTHON)" $(ENSURE) "make" python && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The suite runs twice: on the defaults (SQLite, embedded broker), then on
# PostgreSQL + Redis when both answer on 127.0.0.1. Browser tests need Chromium.
test: install
	@$(ENSURE) --optional "the browser tests are skipped" "make test" chromium
	$(MAKE) --no-print-directory test-default
	@if $(BIN)/python scripts/services_up.py; then \
		$(MAKE) --no-print-directory test-services; \
	else \
		echo "PostgreSQL or Redis not reachable on 127.0.0.1: skipped the second run"; \
	fi

test-default: install
	@echo "== suite on the defaults: SQLite + embedded broker =="
	env -u DATABASE_URL -u CELERY_BROKER_URL GHSYNC_VAR_DIR=$(CURDIR)/var/test-default \
		$(BIN)/pytest $(PYTEST_ARGS)

test-services: install
	@echo "== suite on PostgreSQL + Redis =="
	DATABASE_URL=$(PG_URL) CELERY_BROKER_URL=$(REDIS_URL) GHSYNC_VAR_DIR=$(CURDIR)/var/test-services \
		$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/djlint templates --lint
	$(BIN)/mypy .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Everything on embedded defaults (SQLite, filesystem broker) with the GitHub simulator.
demo: install
	env -u DATABASE_URL -u CELERY_BROKER_URL DJANGO_DEBUG=true $(BIN)/python manage.py demo $(DEMO_ARGS)

# Side-by-side benchmarks (minutes): table on stdout, JSON under var/bench/.
bench: install
	$(BIN)/python bench/run.py

# The fault suite (minutes): its own Redis and PostgreSQL to stop and restart, real
# worker processes, the simulator; figures table on stdout and in var/faults/.
faults: install
	@$(ENSURE) "make faults" redis-server
	@$(ENSURE) --optional "it uses DATABASE_URL and cannot restart PostgreSQL" \
		"make faults" postgres-server
	@$(ENSURE) --optional "the fleet's two machines share one clock" "make faults" faketime
	$(BIN)/python tests/faults/run.py $(PYTEST_ARGS)

# Clones HEAD into a temporary directory and runs every README command there, one line
# each: command, passed/failed, seconds. `make fresh-check FRESH_CHECK="demo lint"` for some.
fresh-check:
	$(PYTHON) scripts/fresh_check.py $(FRESH_CHECK)

# The README's production section run on this machine (PostgreSQL, Redis, gunicorn
# behind a TLS proxy, two workers, beat) and driven with Chromium (about 2 minutes).
prod-check: install
	$(BIN)/python scripts/prod_check.py

clean:
	rm -rf var/test-default var/test-services var/faults var/t-faults var/fresh-check var/prod-check
