# The task vocabulary of the project: README, CI and the GitHub workflows all call these targets,
# so every CI step can be run locally. `make help` lists them.
#
# Bootstraps itself on a bare machine: uses `uv` from PATH, or installs it into .cache/uv-bootstrap
# with pip, then creates .venv from uv.lock (exact versions, nothing else).

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

UV_BOOTSTRAP := .cache/uv-bootstrap
UV ?= $(shell command -v uv 2>/dev/null || echo $(UV_BOOTSTRAP)/bin/uv)
RUN := $(UV) run --frozen --no-sync
PYTEST_ARGS ?=

export MPLBACKEND := Agg
export PYTHONHASHSEED := 0

.PHONY: help setup repro test test-fast lint format schema check-params metrics bench clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  make %-14s %s\n", $$1, $$2}'

$(UV_BOOTSTRAP)/bin/uv:
	@echo "uv not found: installing it into $(UV_BOOTSTRAP) with pip"
	python3 -m venv $(UV_BOOTSTRAP)
	$(UV_BOOTSTRAP)/bin/python -m pip install --quiet "uv>=0.9,<1"

.venv/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen
	@touch $@

setup: .venv/.synced ## create/refresh .venv from uv.lock

repro: .venv/.synced ## run the whole DVC pipeline (extract, validate, split, train, evaluate)
	$(RUN) python -m mlops_template.cli repro
	@$(RUN) dvc metrics show

test: .venv/.synced ## run the whole test suite (unit, data, model, integration)
	$(RUN) pytest $(PYTEST_ARGS)

test-fast: .venv/.synced ## unit + data + model tests only (no servers, no pipeline runs)
	$(RUN) pytest tests/unit tests/data tests/model $(PYTEST_ARGS)

lint: .venv/.synced ## ruff lint + format check, mypy
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy

format: .venv/.synced ## apply ruff fixes and formatting
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

schema: .venv/.synced ## draft data/schema.yaml from the current data source (review before committing)
	$(RUN) python -m mlops_template.cli schema

check-params: .venv/.synced ## validate params.yaml and the schema file
	$(RUN) python -m mlops_template.cli check-params

metrics: .venv/.synced ## show the current metrics
	$(RUN) dvc metrics show

bench: .venv/.synced ## run the benchmarks, write benchmarks/results/*.md
	$(RUN) python benchmarks/bench_pipeline.py

clean: ## remove the environment and caches (not data, models or metrics)
	rm -rf .venv .cache .pytest_cache .mypy_cache .ruff_cache

# ----------------------------------------------------------------------------- serving (BentoML)
# The model store and bentos live in $(BENTOML_HOME) (default: .bentoml inside the repo, git-ignored).
# `make bento` writes the built tag to build/bento/tag.txt; `make serve` and `make container` use it.
BENTOML_HOME ?= $(CURDIR)/.bentoml
export BENTOML_HOME
SERVE_HOST ?= 127.0.0.1
SERVE_PORT ?= 3000
# Packages the service does not need, left out of the bento's requirements (exported from uv.lock).
BENTO_PRUNE := --prune mlflow --prune dvc --prune s3fs --prune matplotlib

.PHONY: bento serve bench-serving

bento: .venv/.synced ## import models/ into the BentoML model store (with lineage) and build the bento
	@mkdir -p build/bento
	$(UV) export --frozen --no-dev --no-hashes --no-emit-project --quiet $(BENTO_PRUNE) -o build/bento/requirements.txt
	$(RUN) python -m mlops_template.serving.store

serve: ## serve the last built bento on $(SERVE_HOST):$(SERVE_PORT) (Swagger UI at /)
	@test -f build/bento/tag.txt || { echo "no bento built yet: run make bento"; exit 1; }
	$(RUN) bentoml serve "$$(cat build/bento/tag.txt)" --host $(SERVE_HOST) --port $(SERVE_PORT)

bench-serving: .venv/.synced ## benchmark the bento vs FastAPI vs in-process (writes benchmarks/results/serving.*)
	$(RUN) python benchmarks/bench_serving.py
