# TourBrain Support: `make run` (portal with demo data) and `make test` (the whole suite).
SHELL := /bin/bash
# pyproject.toml asks for Python 3.11: prefer that interpreter when several are installed.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test fuzz bench lint format install clean

$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml constraints.txt | $(VENV)/bin/activate
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -c constraints.txt -e ".[test]"
	touch $@

install: $(VENV)/.installed

run: export DEBUG ?= 1
run: $(VENV)/.installed
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	$(PY) manage.py run_portal --host $(HOST) --port $(PORT)

test: export SECRET_KEY ?= test-only-secret-key
test: $(VENV)/.installed
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# Schema fuzzing at depth: thousands of generated API requests per role (the test suite runs a few hundred).
fuzz: export SECRET_KEY ?= test-only-secret-key
fuzz: export FUZZ_MAX_EXAMPLES ?= 200
fuzz: export FUZZ_PHASES ?= examples,coverage,fuzzing
fuzz: $(VENV)/.installed
	$(VENV)/bin/pytest tests/tourbrain_support/test_fuzz.py -p no:randomly -q $(PYTEST_ARGS)

bench: export SECRET_KEY ?= bench-only-secret-key
bench: export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/tourbrain_bench
# Its own data directory: the audit checkpoints written outside the database belong to the bench database.
bench: export DATA_DIR ?= $(CURDIR)/var/bench
bench: $(VENV)/.installed
	@# The widget benchmark's load generator (C, so it leaves the 2 cores to the server); locust if it cannot be had.
	@command -v wrk >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
		&& apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; } \
		|| echo "wrk is not installed: the widget benchmark uses locust"
	@psql "$${DATABASE_URL%/*}/postgres" -tAc "SELECT 1 FROM pg_database WHERE datname='$${DATABASE_URL##*/}'" | grep -q 1 \
		|| psql "$${DATABASE_URL%/*}/postgres" -qc "CREATE DATABASE $${DATABASE_URL##*/}"
	$(PY) manage.py migrate --noinput -v0
	$(PY) -m bench $(BENCH_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) var
