# Two entry points: `make run` (the webhook on 127.0.0.1 with dev certificates and the
# shipped policies) and `make test` (lint, types and the whole suite). Both set up what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8443

.PHONY: run test lint types unit setup policies-kustomization

$(BIN)/policy-webhook: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

setup: $(BIN)/policy-webhook

run: setup
	$(BIN)/policy-webhook check --policies policies examples

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: setup
	$(BIN)/mypy

unit: setup
	$(BIN)/python -m pytest

test: lint types unit

# After adding or removing a policy file: the list of files deploy/ ships in the policies ConfigMap.
policies-kustomization: setup
	$(BIN)/python scripts/policies_kustomization.py
