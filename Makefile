# One command to run, one to test. Works on a fresh machine with Python 3.11.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install browser run test openapi bench
.DEFAULT_GOAL := run

$(BIN)/careloop: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

install: $(BIN)/careloop

## The embedded default: SQLite, in-process jobs, local push transport, demo data.
run: install
	$(BIN)/careloop run

## Debian's chromium for the report's browser test (Playwright never downloads a browser here).
browser:
	@command -v chromium >/dev/null || (apt-get update -q && apt-get install -y -q chromium)

## The whole test suite (SQLite; set TEST_DATABASE_URL=postgresql://… for PostgreSQL). npm ci installs
## the WatermelonDB of package-lock.json that the sync tests' phones run.
test: install browser
	npm ci --no-audit --no-fund --loglevel=error >/dev/null
	$(BIN)/pytest

## Regenerate the committed openapi.yaml from the code.
openapi: install
	$(BIN)/careloop openapi write --format yaml openapi.yaml

bench: install
	$(BIN)/python -m bench

## The soak (bench/soak): the production topology on loopback (PostgreSQL and Redis of this machine),
## simulated phones and faults for a bounded time, then checks of what was kept; exits 1 if one fails.
## Under 10 minutes; soak-ci is the ≈ 3-minute run CI makes.
.PHONY: soak soak-ci
soak: install
	$(BIN)/python -m bench.soak

soak-ci: install
	$(BIN)/python -m bench.soak --minutes 3
