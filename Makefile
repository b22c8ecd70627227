# LeadOps: `make run` serves the app with its worker; `make test` runs the test suite.
SHELL := /bin/bash
.DEFAULT_GOAL := run

VENV ?= .venv
PY := $(VENV)/bin/python
# Find a Python >= 3.12: $PYTHON, then python3.x on PATH, then pyenv's versions folder.
PYTHON ?= $(shell for c in python3.14 python3.13 python3.12 python3 \
	$$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.1[2-9]*/bin/python3 2>/dev/null | sort -rV); do \
	  if command -v $$c >/dev/null 2>&1 && $$c -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then \
	    command -v $$c; break; fi; done)

# uv installs exactly uv.lock (versions and hashes). It is pinned here and bootstrapped with pip
# into .uv/, outside the project's environment, so `uv sync` never removes or upgrades it.
UV_VERSION := 0.13.8
UV := .uv/bin/uv
# Never download a Python build: use the interpreter found above. The project's .venv is $(VENV).
UV_ENV := UV_PYTHON_DOWNLOADS=never UV_PROJECT_ENVIRONMENT=$(VENV) UV_LINK_MODE=copy

DEV_ENV := DEBUG=1

.PHONY: run install setup test test-fast lint lock lock-check upgrade format migrations bench eval vendor clean

define need_python
	@if [ -z "$(PYTHON)" ]; then \
	  echo "LeadOps needs Python 3.12 or newer (Django 6). Install one (e.g. 'pyenv install 3.13'," >&2; \
	  echo "or your system's python3.13 package) or point PYTHON=/path/to/python3.12 at it." >&2; \
	  exit 1; fi
endef

$(UV):
	$(need_python)
	@echo "Bootstrapping uv $(UV_VERSION) into .uv/ with $(PYTHON)"
	@test -x .uv/venv/bin/python || $(PYTHON) -m venv .uv/venv
	.uv/venv/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	@mkdir -p .uv/bin && ln -sf ../venv/bin/uv $(UV)

# The project itself is installed editable; everything else exactly as locked, nothing extra.
# --locked also refuses a uv.lock that no longer matches pyproject.toml, instead of ignoring it.
$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(need_python)
	@$(UV_ENV) $(UV) sync --locked --extra dev --python $(PYTHON) || { \
	  echo "make install failed. If uv says the lockfile needs to be updated, pyproject.toml" >&2; \
	  echo "changed without uv.lock: run 'make lock' and commit uv.lock with it." >&2; exit 1; }
	@touch $@

install: $(VENV)/.installed

# Migrate, create the demo admin (once) and the demo data (when the database is empty).
setup: install
	$(DEV_ENV) $(PY) manage.py setup_demo

run: setup
	$(DEV_ENV) $(PY) manage.py serve

# The suite reads tests/settings.py (pyproject's DJANGO_SETTINGS_MODULE), so bare pytest works too.
test: install
	$(PY) -m pytest $(PYTEST_ARGS)

# The suite in parallel (pytest-xdist, one process per core) without the browser tests and the
# slow ones that start real worker clusters: the quick loop while developing.
test-fast: install
	$(PY) -m pytest -n auto -m "not browser and not slow" $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

# Regenerate uv.lock from pyproject.toml (after changing a dependency range); commit both.
lock: | $(UV)
	$(UV_ENV) $(UV) lock --python $(PYTHON)

# Fails when uv.lock no longer matches pyproject.toml (CI runs it).
lock-check: | $(UV)
	$(UV_ENV) $(UV) lock --check --python $(PYTHON)

# Move every dependency to the newest version its range allows, install it and run the tests.
upgrade: | $(UV)
	$(UV_ENV) $(UV) lock --upgrade --python $(PYTHON)
	$(MAKE) install test

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# A new migration for each model change; applied migrations are never rewritten or deleted.
migrations: install
	$(DEV_ENV) $(PY) manage.py makemigrations pipeline review

# The workers run as in production, without DEBUG (its query log alone costs ~10 % of the
# throughput); the key and the mail backend are the benchmark's own, never a deployment's.
BENCH_ENV := LEADOPS_DEV_APPS=1 SECRET_KEY=bench-only-key-not-a-secret-0123456789-abcdefghijklmnop \
	EMAIL_BACKEND=django.core.mail.backends.locmem.EmailBackend
bench: install
	$(BENCH_ENV) $(PY) manage.py migrate --verbosity 0
	$(BENCH_ENV) $(PY) manage.py bench_engine $(BENCH_ARGS)

eval: install
	$(DEV_ENV) $(PY) manage.py eval_agents

# Re-vendor htmx from its npm package (the copy under static/vendor is committed).
vendor:
	rm -rf /tmp/leadops-vendor && mkdir -p /tmp/leadops-vendor
	cd /tmp/leadops-vendor && npm pack htmx.org@2.0.11 && tar xzf htmx.org-2.0.11.tgz
	cp /tmp/leadops-vendor/package/dist/htmx.min.js /tmp/leadops-vendor/package/LICENSE static/vendor/htmx/

clean:
	rm -rf $(VENV) .uv staticfiles .pytest_cache
