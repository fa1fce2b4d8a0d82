# One entry point for set-up, tests and the local environment. Everything installs itself.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ENV := $(PY) tests/controlplane/localenv.py

.PHONY: help venv controlplane test test-fast up down status demo lint crds crds-check lock clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 16

$(STAMP): pyproject.toml constraints.txt
	@echo "==> creating $(VENV) and installing the project with its dev dependencies"
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade "pip>=25.1"
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e . --group dev
	touch $@

venv: $(STAMP) ## create the virtual environment (project + dev dependencies, pinned by constraints.txt)

controlplane: ## build or reuse the control plane binaries (kube-apiserver, etcd, kubectl, helm)
	bash tests/controlplane/build.sh

test: venv controlplane ## run the whole test suite against the real control plane
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test-fast: venv ## tests that need no API server
	$(VENV)/bin/pytest -m "not controlplane" $(PYTEST_ARGS)

up: venv controlplane ## control plane, emulator and operator in the background; prints the lines to paste
	@$(ENV) up

down: ## stop everything `make up` started
	@$(ENV) down

status: ## show what `make up` started
	@$(ENV) status

demo: venv controlplane ## the operator's main job end to end, locally (DEMO_ONCE=1: exit when Ready)
	@$(ENV) demo $(if $(DEMO_ONCE),--once)

lint: venv ## ruff, mypy (strict) and the import-linter contracts
	$(VENV)/bin/ruff check operator tests
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

crds: venv ## render crds/*.yaml from the pydantic models
	$(PY) -m aml_operator.crdgen --out crds

crds-check: venv ## fail when crds/ is stale against the models
	$(PY) -m aml_operator.crdgen --out crds --check

lock: venv ## re-resolve constraints.txt from pyproject.toml in a scratch environment
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --upgrade "pip>=25.1"
	.lock-venv/bin/pip install --quiet -e . --group dev
	.lock-venv/bin/pip freeze --exclude-editable > constraints.txt
	rm -rf .lock-venv

clean: down ## remove the virtual environment and local state (the binary cache stays)
	rm -rf $(VENV) .local .pytest_cache .mypy_cache .ruff_cache
