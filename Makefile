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

# -- delivery: image, charts, kustomize, Argo CD (tests in tests/delivery) --------------------------
HELM := .local/bin/helm
CHECKOV_VERSION := 3.3.30
# Kept across clones with the control plane's binaries (tests/controlplane/build.sh), per version: a warm
# run of the suite does not build it again.
TOOLS_CACHE := $(or $(AML_CP_CACHE),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/azureml-compute-operator)
CHECKOV_VENV := $(TOOLS_CACHE)/checkov-$(CHECKOV_VERSION)
CHARTS := deploy/helm/azureml-compute-operator deploy/helm/azureml-compute-operator-crds

.PHONY: deploy-sync deploy-check chart-lint dockerfile-lint checkov checkov-venv test-delivery

deploy-sync: venv ## refresh the CRD copies, the kustomize base and argocd-cm.yaml from crds/ and the charts
	$(PY) deploy/kustomize/generate.py

deploy-check: venv ## fail when a copy under deploy/ is stale (make deploy-sync fixes it)
	$(PY) deploy/kustomize/generate.py --check

chart-lint: controlplane ## helm lint --strict both charts
	$(HELM) lint --strict $(CHARTS)

dockerfile-lint: venv ## hadolint the Dockerfile
	$(VENV)/bin/hadolint --failure-threshold info Dockerfile

$(CHECKOV_VENV)/.installed:
	@echo "==> checkov in its own venv ($(CHECKOV_VENV)): its pins clash with the project's"
	@mkdir -p $(TOOLS_CACHE)
	@# One build at a time: test runs of several clones share the cache.
	flock $(CHECKOV_VENV).lock sh -ec 'test -f $@ && exit 0; \
	  rm -rf $(CHECKOV_VENV) && $(PYTHON) -m venv $(CHECKOV_VENV); \
	  $(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check --upgrade "pip>=25.1"; \
	  $(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check "checkov==$(CHECKOV_VERSION)"; \
	  touch $@'

checkov: $(CHECKOV_VENV)/.installed ## checkov over the charts, the kustomize output and the Dockerfile
	$(VENV)/bin/pytest tests/delivery/test_checkov.py $(PYTEST_ARGS)

checkov-venv: $(CHECKOV_VENV)/.installed ## checkov's venv (built when missing); its path on the last line
	@echo $(CHECKOV_VENV)

test-delivery: venv controlplane ## the delivery tests on the real control plane
	$(VENV)/bin/pytest tests/delivery $(PYTEST_ARGS)

# -- image and release (tools/image) ---------------------------------------------------------------
DIST ?= dist

.PHONY: image release

image: ## build the operator image (buildah, docker or podman; offline Debian base when no registry answers)
	@bash tools/image/build.sh

release: controlplane ## the image as an OCI archive and both charts packaged, in $(DIST)/ (docs/delivery.md)
	@HELM=$(HELM) DIST=$(DIST) bash tools/image/release.sh
