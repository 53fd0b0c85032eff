# Two entry points: `make run` (the webhook on 127.0.0.1 with dev certificates and the
# shipped policies) and `make test` (lint, types and the whole suite). Both set up what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8443

.PHONY: run test lint types unit setup policies-kustomization dev-certs requirements sbom fuzz

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

# The image's pinned, hash-checked requirements (requirements/runtime.txt from pyproject.toml's
# dependencies, requirements/build.txt from build.in), with pip-tools in its own environment.
# Keeps the current pins where they still fit; `make requirements UPGRADE=--upgrade` moves all.
PIP_COMPILE = CUSTOM_COMPILE_COMMAND="make requirements" build/pip-tools/bin/pip-compile --quiet \
	--generate-hashes --no-emit-index-url --no-emit-find-links $(UPGRADE)
requirements:
	$(PYTHON) -m venv build/pip-tools
	build/pip-tools/bin/pip install --quiet pip-tools
	$(PIP_COMPILE) --strip-extras --output-file requirements/runtime.txt pyproject.toml
	$(PIP_COMPILE) --allow-unsafe --output-file requirements/build.txt requirements/build.in

# A CycloneDX SBOM (JSON) of the image's runtime environment: the pinned requirements installed
# hash-checked, plus the package itself, as the Dockerfile does.
SBOM ?= build/sbom.cdx.json
SBOM_ENV ?= build/runtime-env
$(SBOM_ENV)/bin/policy-webhook: requirements/runtime.txt pyproject.toml | setup
	rm -rf $(SBOM_ENV)
	$(PYTHON) -m venv --without-pip $(SBOM_ENV)
	$(BIN)/pip --python $(SBOM_ENV)/bin/python install --quiet --require-hashes \
		--only-binary=:all: -r requirements/runtime.txt
	$(BIN)/pip --python $(SBOM_ENV)/bin/python install --quiet --no-deps .

sbom: $(SBOM_ENV)/bin/policy-webhook
	@mkdir -p $(dir $(SBOM))
	$(BIN)/cyclonedx-py environment --pyproject pyproject.toml --output-reproducible \
		--output-format JSON --output-file $(SBOM) $(SBOM_ENV)/bin/python
	@echo "wrote $(SBOM)"

# Coverage-guided fuzzing with atheris, FUZZ_SECONDS per target (not part of `make test`): the
# review decoder and engine, the policy loader, CEL. A crasher lands in fuzz/crashes/: copy it
# to tests/data/fuzz-regressions/TARGET/ and the suite replays it.
FUZZ_SECONDS ?= 20
fuzz: setup
	$(BIN)/pip install --quiet -e '.[test,fuzz]'
	for target in review policy cel; do \
		$(BIN)/python -m fuzz.run $$target $(FUZZ_SECONDS) || exit 1; \
	done
