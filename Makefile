# The interface: `make run` and `make test` are the README's two commands.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml cli/pyproject.toml | cksum | cut -d' ' -f1)

.DEFAULT_GOAL := help
.PHONY: help run test lint fmt migrate bench screenshots

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml cli/pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required"'
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,evals]' -e ./cli
	@rm -f $(VENV)/.installed-* && touch $@

run: $(STAMP) ## start the whole product on the embedded default (Ctrl-C stops it)
	$(PY) -m consortium.devstack

# Two pytest-xdist workers: most of the suite waits on subprocesses, servers and the browser, so two
# workers on two cores finish in about half the time. WORKERS=0 runs it in this one process.
WORKERS ?= 2
test: $(STAMP) ## run the test suite (real Postgres/Redis when DATABASE_URL/REDIS_URL are set)
	$(PY) -m pytest -n $(WORKERS) $(ARGS)

lint: $(STAMP) ## ruff check, format check and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	DJANGO_SECURE=false DJANGO_SECRET_KEY=mypy-only $(VENV)/bin/mypy

fmt: $(STAMP) ## format and fix what ruff can
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

migrate: $(STAMP) ## apply migrations to the configured database
	$(PY) manage.py migrate

bench: $(STAMP) ## run the benchmarks under bench/ (api_list, portal, prior_art and events need the local Postgres)
	$(PY) -m bench.api_list
	$(PY) -m bench.ingest
	$(PY) -m bench.checks
	$(PY) -m bench.publish
	$(PY) -m bench.portal
	$(PY) -m bench.evals
	$(PY) -m bench.prior_art
	$(PY) -m bench.events

screenshots: $(STAMP) ## retake docs/screenshots/ from a fresh stack with its demo catalogue (needs Chromium)
	$(PY) -m tests.browser.screenshots
