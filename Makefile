# Two entry points: `make run` (the webhook on 127.0.0.1 with dev certificates and the
# shipped policies) and `make test` (lint, types and the whole suite). Both set up what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8443

.PHONY: run test lint types unit setup policies-kustomization dev-certs

$(BIN)/policy-webhook: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

setup: $(BIN)/policy-webhook

# Dev certificates for the Service name and 127.0.0.1 in certs/dev/ (git-ignored); generated
# when missing, kept while valid for 30 more days.
dev-certs: setup
	$(BIN)/policy-webhook certs --service policy-webhook --namespace policy-webhook \
		--out certs/dev --keep-existing

run: dev-certs
	$(BIN)/policy-webhook serve --policies policies --tls-cert certs/dev/tls.crt \
		--tls-key certs/dev/tls.key --host $(HOST) --port $(PORT)

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
