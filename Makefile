# Connect — the two set-up commands are `make up` and `make test`; everything installs what is missing.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
UV_VERSION := 0.13.8
VENV := .venv
BIN := $(VENV)/bin
STATE := .devstack
STAMP := $(VENV)/.installed-stamp

.PHONY: help install up down status test test-unit lint format schemas bench bench-export bench-scale bench-scheduler bench-analytics clean

help:
	@echo "make up      install what is missing, start Kafka, PostgreSQL, SFTP and the four services, seed a demo"
	@echo "             (make up OBS=1: Prometheus too, scraping them all with the alert rules)"
	@echo "make down    stop everything 'make up' started"
	@echo "make test    install what is missing, start what the tests need, run all tests, stop it all"
	@echo "make lint    ruff + mypy --strict (libs/, deploy/devstack and every service, domain/ included)"
	@echo "make bench   run bench/import (1,000,000 rows, job vs hand-written baseline)"
	@echo "make bench-export     run bench/export (1,000,000 rows to SFTP vs COPY + sftp put; 100,000 rows to a marketing API)"
	@echo "make bench-scale      run bench/scale (400 runs of 10,000 rows with 1, 2 and 4 runners; empty-run overhead)"
	@echo "make bench-analytics  run bench/analytics (a 1,000,000-hit feed delivery vs the CSV import of its rows)"
	@echo "make bench-scheduler  run bench/scheduler (10,000 jobs due in one minute, then with 100,000 idle jobs)"

# uv comes from PyPI; it then installs the exact versions pinned in uv.lock.
$(STAMP): uv.lock pyproject.toml libs/*/pyproject.toml services/*/pyproject.toml deploy/devstack/pyproject.toml
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	$(PYTHON) -m uv sync --frozen --quiet
	@touch $@

install: $(STAMP)
	$(BIN)/connect-devstack install

up: install
	$(BIN)/connect-devstack up --services --state $(STATE) $(if $(OBS),--obs)

down:
	@if [ -x $(BIN)/connect-devstack ]; then $(BIN)/connect-devstack down --state $(STATE); fi

status: $(STAMP)
	$(BIN)/connect-devstack status --state $(STATE)

# pytest starts Kafka, PostgreSQL and sshd (or uses KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL / SFTP_TEST_URL),
# and the e2e tests start the four services; all of it stops when the session ends.
# pytest exits 5 when it collected no test: that fails here too, as it must.
test: install
	$(BIN)/pytest -p no:cacheprovider $(PYTEST_ARGS)

test-unit: $(STAMP)
	$(BIN)/pytest -p no:cacheprovider tests/unit $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict libs/events/src libs/runtime/src libs/cli/src deploy/devstack/src services/*/src

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

schemas: $(STAMP)
	$(BIN)/connect-events-schema --out docs/events

bench: install
	$(BIN)/python bench/import/run.py $(BENCH_ARGS)

bench-export: install
	$(BIN)/python bench/export/run.py $(BENCH_ARGS)

bench-scale: install
	$(BIN)/python bench/scale/run.py $(BENCH_ARGS)

bench-analytics: install
	$(BIN)/python bench/analytics/run.py $(BENCH_ARGS)

bench-scheduler: install
	$(BIN)/python bench/scheduler/run.py $(BENCH_ARGS)

clean: down
	rm -rf $(STATE) $(VENV) deploy/kafka/lib
