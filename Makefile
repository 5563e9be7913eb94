# The two commands of the README: `make serve` and `make test`.
# Both create .venv and install what they need on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test lint install train container-base spark-java bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[train,dev,batch,spark]"
	touch $(STAMP)

install: $(STAMP)

## Serve on http://localhost:3000, training a model first if the store has none.
serve: $(STAMP)
	$(BIN)/bentoml models get credit_risk_model:latest >/dev/null 2>&1 || $(BIN)/python train.py
	$(BIN)/bentoml serve

train: $(STAMP)
	$(BIN)/python train.py

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

## The container test's prerequisites: a Docker engine (Debian's docker.io, installed
## and started as root if none runs, stopped again after) and the offline base image
## (container/build-base-image.sh; skipped when up to date). A failure is ignored here
## (`-`): without root or Docker the container tests then skip, but under CI they fail.
container-base:
	-container/with-engine.sh container/build-base-image.sh

## Java 17 for the Spark test (score.py --spark): Debian's openjdk-17-jre-headless,
## installed as root when missing. Without it the Spark test skips, but under CI it fails.
spark-java:
	-container/ensure-java.sh

## Lint, then the whole test suite.
test: lint container-base spark-java
	$(BIN)/pytest

## The throughput benchmark of the README (needs wrk: apt-get install wrk).
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/bentoml models get credit_risk_model:latest >/dev/null 2>&1 || $(BIN)/python train.py
	$(BIN)/python benchmarks/bench.py
