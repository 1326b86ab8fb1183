# The two commands: `make run` and `make test`. Everything else is a helper of theirs.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
DEV    := $(VENV)/.dev-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test lint typecheck unit services browser screenshots clean bench-gateway bench-auditlog bench-policy bench-monitor bench-safeguards bench-ledger

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(DEV): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP) $@

## make run: set up and serve Enclave on http://127.0.0.1:8400
run: $(STAMP)
	$(BIN)/enclave init
	$(BIN)/enclave serve

## make test: set up and run every test (lint, types, unit, integration, browser; SQLite and PostgreSQL)
test: $(DEV) services browser
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy
	$(BIN)/pytest

services:
	@bash scripts/ensure-services.sh

# Debian's chromium for the browser tests (tests/e2e), installed when missing.
browser:
	@bash scripts/ensure-browser.sh

## make screenshots: seed a demo server and save the console's pages to docs/screenshots/
screenshots: $(DEV) browser
	$(BIN)/python scripts/console_screenshots.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

## make bench-policy: cost of a policy decision (benchmarks/results/policy.json)
bench-policy: $(STAMP)
	$(BIN)/python benchmarks/policy.py

## make bench-monitor: cost per tool-call event with the shipped rules (benchmarks/results/monitor.json)
bench-monitor: $(STAMP)
	$(BIN)/python benchmarks/monitor.py

## make bench-safeguards: safeguards cost per prompt on one core vs the normaliser and a no-op (benchmarks/results/safeguards.json)
bench-safeguards: $(STAMP)
	$(BIN)/python benchmarks/safeguards.py

## make bench-ledger: reserve+post pairs/s, SQLite and PostgreSQL, 1 and 32 clients (benchmarks/results/ledger.json)
bench-ledger: $(STAMP) services
	$(BIN)/python benchmarks/ledger.py

## make bench-auditlog: leaves integrated/s, proof and verify costs at 10^6 leaves, SQLite and PostgreSQL (benchmarks/results/auditlog.json)
bench-auditlog: $(STAMP) services
	$(BIN)/python benchmarks/auditlog.py

## make bench-gateway: latency the governed path adds, vs direct and LiteLLM (benchmarks/results/gateway_overhead.json)
bench-gateway: $(STAMP)
	$(BIN)/python benchmarks/gateway_overhead.py
