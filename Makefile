# LeadOps: `make run` serves the app with its worker; `make test` runs the test suite.
SHELL := /bin/bash
.DEFAULT_GOAL := run

VENV := .venv
PY := $(VENV)/bin/python
# Find a Python >= 3.12: $PYTHON, then python3.x on PATH, then pyenv's versions folder.
PYTHON ?= $(shell for c in python3.14 python3.13 python3.12 python3 \
	$$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.1[2-9]*/bin/python3 2>/dev/null | sort -rV); do \
	  if command -v $$c >/dev/null 2>&1 && $$c -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then \
	    command -v $$c; break; fi; done)

DEV_ENV := DEBUG=1
TEST_ENV := SECRET_KEY=test-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz

.PHONY: run install setup test test-fast lint format migrations bench eval vendor clean

$(VENV)/.installed: pyproject.toml
	@if [ -z "$(PYTHON)" ]; then \
	  echo "LeadOps needs Python 3.12 or newer (Django 6). Install one (e.g. 'pyenv install 3.13'," >&2; \
	  echo "or your system's python3.13 package) or point PYTHON=/path/to/python3.12 at it." >&2; \
	  exit 1; fi
	@echo "Creating $(VENV) with $(PYTHON)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(VENV)/.installed

# Migrate, create the demo admin (once) and the demo data (when the database is empty).
setup: install
	$(DEV_ENV) $(PY) manage.py setup_demo

run: setup
	$(DEV_ENV) $(PY) manage.py serve

test: install
	$(TEST_ENV) $(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Regenerate the pipeline app's migrations from the models (before the first release only).
migrations: install
	rm -f pipeline/migrations/0001_initial.py
	$(DEV_ENV) $(PY) manage.py makemigrations pipeline

bench: install
	$(DEV_ENV) $(PY) manage.py bench_engine

eval: install
	$(DEV_ENV) $(PY) manage.py eval_agents

# Re-vendor htmx from its npm package (the copy under static/vendor is committed).
vendor:
	rm -rf /tmp/leadops-vendor && mkdir -p /tmp/leadops-vendor
	cd /tmp/leadops-vendor && npm pack htmx.org@2.0.11 && tar xzf htmx.org-2.0.11.tgz
	cp /tmp/leadops-vendor/package/dist/htmx.min.js /tmp/leadops-vendor/package/LICENSE static/vendor/htmx/

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
