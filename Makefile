# Sunbid 阳光开标. GNU make; needs only python3 with venv (Debian: python3, python3-venv).
#
#   make run             demo on http://127.0.0.1:8000 (SQLite, in-memory channel layer)
#   make test            the whole suite on the embedded default
#   make test-services   the whole suite on PostgreSQL + Redis
#   make lint            ruff
#   make messages        English catalog (needs gettext)

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
MANAGE := $(BIN)/python manage.py
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
SERVICES_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
SERVICES_REDIS_URL ?= redis://127.0.0.1:6379/0

# Reinstall only when pyproject.toml changes.
STAMP_RUN := $(VENV)/.sunbid-installed
STAMP_TEST := $(VENV)/.sunbid-installed-test

# The test legs choose their own database and channel layer: a deployment's
# settings exported in the caller's shell must not leak into them.
CLEAN_ENV := env -u DATABASE_URL -u REDIS_URL -u DEBUG -u SECRET_KEY -u ALLOWED_HOSTS \
	-u CSRF_TRUSTED_ORIGINS -u TASK_BACKEND -u SERVE_STATIC

.PHONY: help run test test-services lint messages

help:
	@echo "make run            start the demo on http://$(HOST):$(PORT)/ (PORT=… to change)"
	@echo "make test           run the test suite (SQLite + in-memory channel layer)"
	@echo "make test-services  run the test suite on PostgreSQL + Redis"
	@echo "make lint           ruff check"
	@echo "make messages       update and compile the English catalog (needs gettext)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(STAMP_TEST): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@ $(STAMP_RUN)

# The ASGI app serves static files itself while SERVE_STATIC is on (the
# default); collectstatic is needed only for a web server in front.
# The worker runs the timed steps (bid deadline, opening, audit checkpoints); it stops with Daphne.
run: $(STAMP_RUN)
	$(MANAGE) migrate --noinput
	$(MANAGE) seed_demo
	$(MANAGE) audit_checkpoint --schedule --verbosity 0 > /dev/null
	@if ! $(MANAGE) shell --verbosity 0 -c 'from django.conf import settings; raise SystemExit(0 if settings.SERVE_STATIC else 1)'; then \
		$(MANAGE) collectstatic --noinput; \
	fi
	@$(MANAGE) db_worker --no-reload & worker=$$!; \
	trap 'kill $$worker 2>/dev/null || true; wait $$worker 2>/dev/null || true' EXIT; \
	trap 'exit 130' INT; trap 'exit 143' TERM; \
	echo "Sunbid 阳光开标: http://$(HOST):$(PORT)/  (task worker pid $$worker; Ctrl-C stops both)"; \
	$(BIN)/daphne -b $(HOST) -p $(PORT) config.asgi:application

# pytest exits 5 when no test ran: make treats that, like any failure, as an error.
# Browser tests need Debian's Chromium and a CJK font: installed when missing
# (needs root or sudo). Where that is impossible they are skipped with the
# reason, except under CI=true, where a missing browser fails the run.
test: $(STAMP_TEST)
	@bash scripts/ensure_browser.sh || [ "$${CI:-}" != true ]
	$(CLEAN_ENV) $(BIN)/python -m pytest -m "not services" $(PYTEST_ARGS)

test-services: $(STAMP_TEST)
	@status=0; \
	DATABASE_URL='$(SERVICES_DATABASE_URL)' REDIS_URL='$(SERVICES_REDIS_URL)' \
		$(BIN)/python scripts/check_services.py || status=$$?; \
	if [ $$status -eq 75 ]; then exit 0; fi; \
	if [ $$status -ne 0 ]; then exit $$status; fi; \
	$(CLEAN_ENV) DATABASE_URL='$(SERVICES_DATABASE_URL)' REDIS_URL='$(SERVICES_REDIS_URL)' \
		$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP_TEST)
	$(BIN)/ruff check .

messages: $(STAMP_RUN)
	$(MANAGE) makemessages -l en --ignore='tests/*' --ignore='var/*' --ignore='bench/*' --ignore='scripts/*'
	$(MANAGE) compilemessages -l en --ignore='$(VENV)' --ignore=var
