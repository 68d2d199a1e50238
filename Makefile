# slawatch developer and operator entry points. Run `make help` for the list.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONFIG ?= config/slawatch.toml
# The example config names this token for the HTTP API; override it in real deployments.
export SLAWATCH_API_TOKEN ?= demo-token

.PHONY: help run test lint format typecheck pytest bench clean install uninstall

help:
	@echo "make run    - create .venv, install, start the daemon on the example config with demo incidents"
	@echo "make test   - create .venv with dev tools, run ruff, mypy and pytest"
	@echo "make bench  - run the benchmarks in bench/"
	@echo "make install - install as a systemd service under /opt/slawatch (root)"
	@echo "make uninstall - remove the service and /opt/slawatch (keeps config and data)"

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit("slawatch needs Python >= 3.11") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

# Starts the daemon on the example config with demo incidents whose targets are minutes, so
# escalations show up on the console within a minute or two. Ctrl-C stops it.
run: $(VENV)/.installed
	$(BIN)/slawatch check-config --config $(CONFIG)
	$(BIN)/slawatch run --config $(CONFIG) --demo

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check daemon tests bench
	$(BIN)/ruff format --check daemon tests bench

format: $(VENV)/.installed-dev
	$(BIN)/ruff check --fix daemon tests bench
	$(BIN)/ruff format daemon tests bench

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

pytest: $(VENV)/.installed-dev
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck pytest

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/calendar_bench.py
	$(BIN)/python bench/daemon_bench.py
	$(BIN)/python bench/startup_bench.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis

# Install as a systemd service (see systemd/install.sh and the README). DESTDIR installs into a
# staging root without calling systemctl; PREFIX moves the virtualenv (default /opt/slawatch).
PREFIX ?= /opt/slawatch
DESTDIR ?=
PIP_FLAGS ?=

install:
	DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" PYTHON="$(PYTHON)" PIP_FLAGS="$(PIP_FLAGS)" \
		sh systemd/install.sh install

uninstall:
	DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" sh systemd/install.sh uninstall
