# news-monitor: `make run` runs the daemon on SQLite; `make test` runs every check and test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONFIG ?= config/feeds.yaml

.PHONY: install dev run test lint typecheck unit test-unit test-integration test-acceptance bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The package's bytecode is compiled once, as a wheel install has it: where PYTHONDONTWRITEBYTECODE is set
# an editable install would otherwise compile monitor/ again at every start (Python recompiles a stale
# file in memory, so an edit is never missed).
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	$(BIN)/python -m compileall -q monitor
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/python -m compileall -q monitor
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed  ## the package and the `monitor` command (.venv/bin/monitor)

dev: $(VENV)/.dev-installed

run: install  ## upgrade the database and run the daemon on $(CONFIG) (SQLite at data/monitor.db by default)
	$(BIN)/monitor --config $(CONFIG) db upgrade
	exec $(BIN)/monitor --config $(CONFIG) run

lint: dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: dev
	$(BIN)/mypy

unit: dev  ## every tier of the suite (the name is older than the tiers)
	$(BIN)/pytest -q -p no:cacheprovider

test-unit: dev  ## tests/unit: pure core and plain data (no database, network, server or process)
	$(BIN)/pytest -q -p no:cacheprovider tests/unit

test-integration: dev  ## tests/integration: the library against real loopback servers, SQLite and Postgres
	$(BIN)/pytest -q -p no:cacheprovider tests/integration

test-acceptance: dev  ## tests/acceptance: the real `monitor` command and daemon in subprocesses
	$(BIN)/pytest -q -p no:cacheprovider tests/acceptance

test: lint typecheck unit  ## lint, types and the whole suite (Postgres tests included when it answers)

bench: dev  ## the benchmarks in bench/, each printing its figures
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache data
