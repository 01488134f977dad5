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
RUN ?= $(UV) run --frozen --no-sync
# Prerequisite of every target that needs the environment; tests that drive make inside a copy of the
# repository pass SETUP= RUN= with the project's venv on PATH.
SETUP ?= .venv/.synced
PYTEST_ARGS ?=

export MPLBACKEND := Agg
export PYTHONHASHSEED := 0

.PHONY: help setup repro test test-fast lint format schema check-params metrics bench clean init

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  make %-14s %s\n", $$1, $$2}'

$(UV_BOOTSTRAP)/bin/uv:
	@echo "uv not found: installing it into $(UV_BOOTSTRAP) with pip"
	python3 -m venv $(UV_BOOTSTRAP)
	$(UV_BOOTSTRAP)/bin/python -m pip install --quiet "uv>=0.9,<1"

.venv/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen
	@touch $@

setup: $(SETUP) ## create/refresh .venv from uv.lock

repro: $(SETUP) ## run the whole DVC pipeline (extract, validate, split, train, evaluate)
	$(RUN) python -m mlops_template.cli repro
	@$(RUN) dvc metrics show

test: $(SETUP) ## run the whole test suite (unit, data, model, integration)
	$(RUN) pytest $(PYTEST_ARGS)

test-fast: $(SETUP) ## unit + data + model tests only (no servers, no pipeline runs)
	$(RUN) pytest tests/unit tests/data tests/model $(PYTEST_ARGS)

lint: $(SETUP) lint-workflows ## ruff lint + format check, mypy (+ workflow checks: make lint-workflows)
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy

format: $(SETUP) ## apply ruff fixes and formatting
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

schema: $(SETUP) ## draft data/schema.yaml from the current data source (review before committing)
	$(RUN) python -m mlops_template.cli schema

check-params: $(SETUP) ## validate params.yaml and the schema file
	$(RUN) python -m mlops_template.cli check-params

metrics: $(SETUP) ## show the current metrics
	$(RUN) dvc metrics show

bench: $(SETUP) ## run the benchmarks, write benchmarks/results/*.md
	$(RUN) python benchmarks/bench_pipeline.py

clean: ## remove the environment and caches (not data, models or metrics)
	rm -rf .venv .cache .pytest_cache .mypy_cache .ruff_cache

# ---- bring your own data ---------------------------------------------------------------------------
# make init SOURCE=data/source/churn.csv TARGET=churned ID=customer_id TASK=binary [NAME=churn]
init: $(SETUP) ## make a fresh fork yours: names, data settings, schema draft, demo lineage reset
	$(RUN) python -m mlops_template.cli init \
	  $(if $(NAME),--name "$(NAME)") $(if $(SOURCE),--source "$(SOURCE)") $(if $(TARGET),--target "$(TARGET)") \
	  $(if $(ID),--id-column "$(ID)") $(if $(TASK),--task "$(TASK)")

# --- Pull request = experiment (issue 4): compare with the base branch's model, report, gate -------------
# CI calls them in this order:  make pr-report BASE=origin/main  (runs `dvc repro` of the workspace first;
# exit 0 whenever a report was written, also for a regression or a failed pipeline; posts nothing), then
# make gate  (exit 1 on a regression or failed pipeline, saying why). Output: $(PR_OUT)/report.md + PNGs +
# comparison.json. No prompts; works offline with no DVC remote (rebuilds the baseline in a git worktree).
BASE ?= main
PR_OUT ?= reports/pr

.PHONY: pr-report gate

pr-report: $(SETUP) ## compare the workspace model with BASE's (default main): writes $(PR_OUT)/report.md
	$(RUN) python -m mlops_template.cli pr-report --repro --base "$(BASE)" --out "$(PR_OUT)"

gate: $(SETUP) ## exit non-zero when the last pr-report found a regression (reads $(PR_OUT)/comparison.json)
	$(RUN) python -m mlops_template.cli gate --comparison "$(PR_OUT)/comparison.json"

# ---- PR workflow (GitHub side): workflow checks, CI test slices, job summary, sticky comment, act ----
# .github/workflows/pr.yml calls these; `make act-pr` runs that workflow locally under act.
PR_REPORT ?= $(PR_OUT)/report.md
PR_COMMENT_MARKER ?= mlops-template pr-experiment
CML ?= cml
ACT_ARGS ?=

.PHONY: lint-workflows test-unit test-data pr-summary pr-comment act-pr bench-pr

lint-workflows: $(SETUP) ## security audit (zizmor, offline) + schema check of .github/
	$(RUN) zizmor --offline .github
	$(RUN) check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(RUN) check-jsonschema --builtin-schema vendor.dependabot .github/dependabot.yml

test-unit: $(SETUP) ## unit tests only (CI job "lint + unit tests")
	$(RUN) pytest tests/unit $(PYTEST_ARGS)

test-data: $(SETUP) ## data and schema tests only (CI job "data schema tests")
	$(RUN) pytest tests/data $(PYTEST_ARGS)

pr-summary: ## append the PR report to the GitHub job summary, or say why there is none
	@out="$${GITHUB_STEP_SUMMARY:?is not set: pr-summary writes the GitHub Actions job summary}"; \
	if [ -f "$(PR_REPORT)" ]; then \
	  cat "$(PR_REPORT)" >> "$$out"; echo "$(PR_REPORT) -> job summary"; \
	else \
	  printf '## PR experiment: no report\n\n`make pr-report` did not write %s: see the failed step in the log.\n' \
	    "$(PR_REPORT)" >> "$$out"; \
	  echo "no $(PR_REPORT): wrote a note to the job summary"; \
	fi

pr-comment: ## post or update the one sticky PR comment with the report (cml; token needs pull-requests: write)
	@test -f "$(PR_REPORT)" || { echo "no $(PR_REPORT): run make pr-report first" >&2; exit 1; }
	cd "$(PR_OUT)" && \
	$(CML) comment update --target=pr --watermark-title="$(PR_COMMENT_MARKER)" "$(notdir $(PR_REPORT))" || { \
	  echo "::warning::cml could not post the report with its images; retrying without uploading images"; \
	  $(CML) comment update --target=pr --watermark-title="$(PR_COMMENT_MARKER)" --no-publish "$(notdir $(PR_REPORT))"; }

act-pr: $(SETUP) ## run .github/workflows/pr.yml locally under act (stand-ins for marketplace actions)
	$(RUN) python -m tests.act.harness $(ACT_ARGS)

bench-pr: $(SETUP) ## time the whole PR workflow under act, cold and warm caches (benchmarks/results/pr_workflow.md)
	$(RUN) python benchmarks/bench_pr_workflow.py
