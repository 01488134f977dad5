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
# A folder holding only a `uv` link, first on PATH for every recipe: tools that look for uv on PATH
# (`bentoml build` does, else it tries `pip install uv` into a venv that has no pip) find the same uv as make.
UV_PATH_DIR := $(CURDIR)/.cache/uv-bin
export PATH := $(UV_PATH_DIR):$(PATH)
RUN ?= $(UV) run --frozen --no-sync
# Prerequisite of every target that needs the environment; tests that drive make inside a copy of the
# repository pass SETUP= RUN= with the project's venv on PATH.
SETUP ?= .venv/.synced
PYTEST_ARGS ?=

export MPLBACKEND := Agg
export PYTHONHASHSEED := 0

.PHONY: help setup repro test test-deps test-fast lint format schema check-params metrics bench clean init

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  make %-18s %s\n", $$1, $$2}'

$(UV_BOOTSTRAP)/bin/uv:
	@echo "uv not found: installing it into $(UV_BOOTSTRAP) with pip"
	python3 -m venv $(UV_BOOTSTRAP)
	$(UV_BOOTSTRAP)/bin/python -m pip install --quiet "uv>=0.9,<1"

$(UV_PATH_DIR)/uv: | $(UV)
	@mkdir -p $(UV_PATH_DIR) && ln -sf "$(abspath $(UV))" $@

.venv/.synced: uv.lock pyproject.toml | $(UV) $(UV_PATH_DIR)/uv
	$(UV) sync --frozen
	@touch $@

setup: $(SETUP) ## create/refresh .venv from uv.lock

repro: $(SETUP) ## run the whole DVC pipeline (extract, validate, split, train, evaluate)
	$(RUN) python -m mlops_template.cli repro
	@$(RUN) dvc metrics show

test-deps: ## system packages the tests need (Node.js for the act tests); a no-op when present
	bash .ci/emulation/install-act-deps.sh

test: $(SETUP) test-deps ## run the whole test suite (unit, data, model, integration, workflows under act)
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
#           [MISSING_LABELS=drop|error]  (default: drop when some rows have no label, and say how many)
init: $(SETUP) ## make a fresh fork yours: names, data settings, schema draft, demo lineage reset
	$(RUN) python -m mlops_template.cli init \
	  $(if $(NAME),--name "$(NAME)") $(if $(SOURCE),--source "$(SOURCE)") $(if $(TARGET),--target "$(TARGET)") \
	  $(if $(ID),--id-column "$(ID)") $(if $(TASK),--task "$(TASK)") \
	  $(if $(MISSING_LABELS),--missing-labels "$(MISSING_LABELS)")

# --- Pull request = experiment (issue 4): compare with the base branch's model, report, gate -------------
# CI calls them in this order:  make pr-report BASE=origin/main  (runs `dvc repro` of the workspace first;
# exit 0 whenever a report was written, also for a regression or a failed pipeline; posts nothing), then
# make gate  (exit 1 on a regression or failed pipeline, saying why). Output: $(PR_OUT)/report.md + PNGs +
# comparison.json. No prompts; works offline with no DVC remote (rebuilds the baseline in a git worktree).
BASE ?= main
PR_OUT ?= reports/pr
# Values that can come from a workflow input, a branch name, a tag, an artifact or an MLflow tag (BASE,
# VERSION, IMAGE, ROLLBACK_TO, RETRAIN_REF, LOG) reach recipes only as environment variables, read by the
# shell as "$$VAR" or by the Python CLI, never through Make's $(VAR) text expansion (which would paste them
# into the command line). Workflows pass them in the step's environment, not as make arguments: a make
# command-line assignment is itself expanded by make when exported. tests/integration/test_hostile_inputs.py
export BASE

.PHONY: pr-report gate lock-check

pr-report: $(SETUP) ## compare the workspace model with BASE's (default main): writes $(PR_OUT)/report.md
	$(RUN) python -m mlops_template.cli pr-report --repro --base "$$BASE" --out "$(PR_OUT)"

gate: $(SETUP) ## exit non-zero when the last pr-report found a regression (reads $(PR_OUT)/comparison.json)
	$(RUN) python -m mlops_template.cli gate --comparison "$(PR_OUT)/comparison.json"

lock-check: $(SETUP) ## after the pipeline ran: fail when the committed dvc.lock is not what code, params and data produce
	$(RUN) python -m mlops_template.lockcheck --report "$(PR_OUT)/report.md"

# ---- PR workflow (GitHub side): workflow checks, CI test slices, job summary, sticky comment, act ----
# .github/workflows/pr.yml and pr-comment.yml call these; `make act-pr` runs pr.yml locally under act.
PR_REPORT ?= $(PR_OUT)/report.md
PR_ARTIFACT ?= .cache/pr-artifact
ACT_ARGS ?=

.PHONY: lint-workflows test-unit test-data test-model pr-summary pr-comment-post protect dvc-pull dvc-pin-map pr-push act-pr bench-pr

lint-workflows: $(SETUP) ## security audit (zizmor, offline) + schema check of .github/
	$(RUN) zizmor --offline .github
	$(RUN) check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(RUN) check-jsonschema --builtin-schema vendor.dependabot .github/dependabot.yml

test-unit: $(SETUP) ## unit tests only (CI job "lint + unit tests")
	$(RUN) pytest tests/unit $(PYTEST_ARGS)

test-data: $(SETUP) ## data and schema tests only (CI job "data + model tests")
	$(RUN) pytest tests/data $(PYTEST_ARGS)

test-model: $(SETUP) ## the project's model behaviour tests (quality floor from compare.floors, invariances)
	$(RUN) pytest tests/model $(PYTEST_ARGS)

pr-summary: ## append the PR report to the GitHub job summary (plots as links to the artifact), or say why there is none
	PYTHONPATH=src python3 -m mlops_template.pr_comment summary --report "$(PR_REPORT)"

pr-comment-post: ## (workflow_run commenter) upsert the one sticky PR comment from the downloaded pr-report artifact
	PYTHONPATH=src python3 -m mlops_template.pr_comment post --artifact "$(PR_ARTIFACT)" --publish-images "$${PUBLISH_IMAGES:-false}"

protect: ## (repository admin, once) apply .github/rulesets/main.json: PRs, the gate's check, code-owner review (docs/credentials.md)
	PYTHONPATH=src python3 -m mlops_template.protect --ruleset .github/rulesets/main.json --codeowners .github/CODEOWNERS

dvc-pin-map: $(SETUP) ## after make repro (main-cache.yml): map dvc.lock's committed pins to the md5s produced here
	$(RUN) python -m mlops_template.cli pin-map

dvc-pull: $(SETUP) ## pull .dvc-tracked data and dvc.lock's outputs from the DVC remote; skips cleanly without one
	bash scripts/pr/dvc-pull.sh

pr-push: $(SETUP) ## after lock-check: push the PR's outputs to dvc-pull's remote (the release pulls them); skips on forks
	bash scripts/pr/dvc-push.sh

act-pr: $(SETUP) ## run .github/workflows/pr.yml locally under act (stand-ins for marketplace actions)
	PYTHONPATH=.ci $(RUN) python -m emulation.act.harness $(ACT_ARGS)

bench-pr: $(SETUP) ## time the whole PR workflow under act, cold and warm caches (benchmarks/results/pr_workflow.md)
	$(RUN) python benchmarks/bench_pr_workflow.py

# ----------------------------------------------------------------------------- serving (BentoML)
# The model store and bentos live in $(BENTOML_HOME) (default: .bentoml inside the repo, git-ignored).
# `make bento` writes the built tag to build/bento/tag.txt; `make serve` and `make container` use it.
BENTOML_HOME ?= $(CURDIR)/.bentoml
export BENTOML_HOME
SERVE_HOST ?= 127.0.0.1
SERVE_PORT ?= 3000
# Packages the service does not need, left out of the bento's requirements (exported from uv.lock).
BENTO_PRUNE := --prune mlflow --prune dvc --prune s3fs --prune matplotlib

# CHALLENGER=<model store tag, or a project folder with models/>: a second model in the bento, scored in shadow.
CHALLENGER ?=
export CHALLENGER

.PHONY: bento serve serve-check bench-serving bench-soak bench-shadow

bento: $(SETUP) ## import models/ into the BentoML model store (with lineage) and build the bento (CHALLENGER=...: shadow model)
	@mkdir -p build/bento
	$(UV) export --frozen --no-dev --no-hashes --no-emit-project --quiet $(BENTO_PRUNE) -o build/bento/requirements.txt
	$(RUN) python -m mlops_template.serving.store

serve-check: $(SETUP) bento ## build the bento from the workspace model, load it in-process: test rows answered as in-process, a bad field -> 4xx naming it
	$(RUN) python -m mlops_template.serving.check --report "$(PR_OUT)/report.md"

serve: ## serve the last built bento on $(SERVE_HOST):$(SERVE_PORT) (Swagger UI at /)
	@test -f build/bento/tag.txt || { echo "no bento built yet: run make bento"; exit 1; }
	$(RUN) bentoml serve "$$(cat build/bento/tag.txt)" --host $(SERVE_HOST) --port $(SERVE_PORT)

bench-serving: $(SETUP) ## benchmark the bento vs FastAPI vs in-process (writes benchmarks/results/serving.*)
	$(RUN) python benchmarks/bench_serving.py

bench-shadow: $(SETUP) ## champion latency with vs without a shadow challenger, real bentoml serve (benchmarks/results/shadow.md)
	$(RUN) python benchmarks/bench_shadow.py

bench-soak: $(SETUP) ## 5-minute soak of the built bento, 64 clients, single + batch (writes benchmarks/results/soak.*)
	$(RUN) python benchmarks/bench_soak.py
# ---------------------------------------------------------------------------------------------------------
# Release: container image, smoke test, model registry, image push, deploy, rollback (docs/release.md)
# ---------------------------------------------------------------------------------------------------------
RELEASE := $(RUN) python -m mlops_template.release
RELEASE_DIR := .cache/release
IMAGE_NAME ?= mlops-template-service
LOCAL_IMAGE ?= localhost/$(IMAGE_NAME):latest
IMAGE_REGISTRY ?= ghcr.io
VERSION ?=
export IMAGE_NAME IMAGE_REGISTRY UV

.PHONY: container-tools container smoke-container test-container test-extended test-release-act release-materialize release-register release-promote dvc-push \
	release-artifacts image-push deploy rollback model-versions k8s-validate gitops-publish gitops-wait release-guard bento-tag workflow-check act-release

container-tools: ## install podman + runc + debootstrap when no Docker engine answers (apt-get)
	bash .ci/emulation/container/install.sh

container: $(SETUP) container-tools ## build the OCI image from the built bento (docker, else podman)
	bash scripts/container/build.sh "$$(cat build/bento/tag.txt)" "$(LOCAL_IMAGE)"

smoke-container: $(SETUP) ## run the built image on 127.0.0.1: /readyz, a prediction vs in-process, non-root
	bash scripts/container/smoke.sh "$(LOCAL_IMAGE)"

test-container: $(SETUP) ## opt-in real container test (build + run + smoke + push); needs podman or docker
	$(RUN) pytest -m container tests/integration/test_container.py $(PYTEST_ARGS)

test-extended: $(SETUP) test-deps ## opt-in: the end-to-end tests kept out of .ci/run for its time budget (-m extended)
	$(RUN) pytest -m extended $(PYTEST_ARGS)

test-release-act: $(SETUP) test-deps container-tools ## opt-in, not in .ci/run (≈ 16 min here, over the CI budget): release.yml under act, 3 releases
	$(RUN) pytest -m container tests/integration/test_release_act.py $(PYTEST_ARGS)

bento-tag: $(SETUP) ## print the built bento's tag (and expose it to GitHub Actions)
	@tag="$$(cat build/bento/tag.txt)"; echo "$$tag"; \
	if [[ -n "$${GITHUB_OUTPUT:-}" ]]; then echo "bento_tag=$$tag" >> "$$GITHUB_OUTPUT"; fi

release-materialize: $(SETUP) ## the outputs main's dvc.lock pins (dvc pull; on a miss dvc repro) verified: identical or equivalent
	$(RELEASE) materialize

release-register: $(SETUP) ## register the model in MLflow (skipped unless MLFLOW_TRACKING_URI is set)
	$(RELEASE) register

release-promote: $(SETUP) ## move the MLflow `champion` alias to the registered version ($$VERSION, else the recorded one) and record the pushed image on it
	$(RELEASE) promote
	$(RELEASE) tag-version --bento "$$(cat $(RELEASE_DIR)/bento_tag 2>/dev/null || true)"

dvc-push: $(SETUP) ## push DVC-tracked data and models (skipped unless DVC_REMOTE_URL is set)
	bash scripts/release/dvc-push.sh

release-artifacts: $(SETUP) ## export the bento into .cache/release next to the release record (for the deploy job)
	bash scripts/release/artifacts.sh save

image-push: $(SETUP) ## push the image as :<git sha> (+ :model-<N>) to IMAGE_REGISTRY; prints REPO@sha256:<digest>
	bash scripts/release/push.sh "$(LOCAL_IMAGE)"

# IMAGE (env) or the image `make image-push` recorded in $(RELEASE_DIR) (the deploy job's `release` artifact);
# Python reads it, so it never goes through Make's text expansion.
deploy: $(SETUP) ## deploy the pushed image (or IMAGE=...) to the configured target (Kubernetes / BentoCloud), or skip cleanly
	$(RELEASE) deploy \
		--bento "$$(cat $(RELEASE_DIR)/bento_tag 2>/dev/null || true)" --bento-archive "$(RELEASE_DIR)/bento.bento"

# The version comes from $$VERSION or $$ROLLBACK_TO (the workflow input), read and validated by the CLI (a
# positive integer or `previous`); the image, bento and version to redeploy travel in rollback.json, which the
# CLI reads back: nothing taken from MLflow's tags is ever sourced by a shell.
rollback: $(SETUP) ## point `champion` back at the previous champion (or VERSION=N) and redeploy its image (GITOPS=1: pin it on the deploy branch)
	$(RELEASE) rollback --output $(RELEASE_DIR)/rollback.json
	$(RELEASE) deploy --rollback-record $(RELEASE_DIR)/rollback.json
	$(if $(GITOPS),$(RELEASE) gitops-publish --rollback-record $(RELEASE_DIR)/rollback.json)

model-versions: $(SETUP) ## list the registered model versions, their aliases and images
	$(RELEASE) versions

act-release: $(SETUP) ## run release.yml under act with a local registry (MLFLOW_TRACKING_URI=..., ROLLBACK_TO=N optional)
	bash .ci/emulation/act/act-release.sh

workflow-check: ## check .github/workflows/*.yml with GitHub's own parser (npm @actions/workflow-parser)
	bash .ci/emulation/workflow-check/run.sh

k8s-validate: .venv/.synced ## validate k8s/ manifests offline against the Kubernetes schemas
	$(RUN) kubernetes-validate --strict $(filter-out k8s/kustomization.yaml,$(wildcard k8s/*.yaml))

gitops-publish: $(SETUP) ## pin the pushed image (or IMAGE=repo@sha256:...) + model version in k8s/overlays/production on the deploy branch
	$(RELEASE) gitops-publish

gitops-wait: $(SETUP) ## before release-promote: wait for the Argo CD app (ARGOCD_APP, KUBE_CONFIG) to sync the deploy commit + be Healthy, or skip
	$(RELEASE) gitops-wait

release-guard: ## refuse to release from any ref but the default branch (REF, DEFAULT_BRANCH from the workflow)
	@ref="$${REF:?set REF (github.ref)}"; default="$${DEFAULT_BRANCH:?set DEFAULT_BRANCH (the repository default branch)}"; \
	if [[ "$$ref" != "refs/heads/$$default" ]]; then \
	  echo "::error::release and rollback run only from the default branch ($$default); this run is on $$ref" >&2; exit 1; \
	fi; echo "release-guard: $$ref is the default branch"

# ---- Continuous training (issue 13): drift monitor of served traffic, retraining (docs/continuous-training.md)
# make monitor LOG=logs/predictions.jsonl   (a path, a glob, or s3://bucket/prefix/*.jsonl; default: the
# serving.prediction_log_path). Writes $(MONITOR_OUT)/drift.md + summary.json + a PNG per drifted feature.
# The CLI's exit codes: 0 no drift, 3 drift, 4 too little traffic, 1 error (make turns non-zero into 2);
# MONITOR_ARGS=--exit-zero makes drift/too-little-traffic exit 0 (workflows read `status` instead).
LOG ?=
export LOG
MONITOR_OUT ?= reports/monitor
MONITOR_ARGS ?=

.PHONY: profile monitor bench-drift

profile: $(SETUP) ## (re)build the reference profile of the training data (DVC stage `profile`)
	$(RUN) dvc repro profile

monitor: $(SETUP) ## LOG=...: compare served traffic with the reference profile; drift report in $(MONITOR_OUT)
	$(RUN) python -m mlops_template.monitoring $${LOG:+--log "$$LOG"} --out "$(MONITOR_OUT)" $(MONITOR_ARGS)

bench-drift: $(SETUP) ## false-alarm rate and power of the drift tests over many seeds (benchmarks/results/drift.md)
	$(RUN) python benchmarks/bench_drift.py

# The workflows' steps (.github/workflows/monitor.yml, retrain.yml). The GitHub calls need GITHUB_TOKEN and
# GITHUB_REPOSITORY (set in Actions) and run on the plain runner Python: the jobs that hold write tokens
# install and run none of the project's dependencies.
GITHUB_PY := PYTHONPATH=src python3
RETRAIN := $(RUN) python -m mlops_template.monitoring.retrain
RETRAIN_REF ?= main
export RETRAIN_REF
RETRAIN_BASE ?= main
RETRAIN_APP_TOKEN ?= false
export RETRAIN_APP_TOKEN

.PHONY: monitor-summary monitor-issue retrain-dispatch retrain-data retrain-decide retrain-commit retrain-publish \
	retrain-summary

monitor-summary: ## append the drift report to the GitHub job summary
	@out="$${GITHUB_STEP_SUMMARY:?is not set: monitor-summary writes the GitHub Actions job summary}"; \
	if [ -f "$(MONITOR_OUT)/issue.md" ]; then cat "$(MONITOR_OUT)/issue.md" >> "$$out"; \
	elif [ -f "$(MONITOR_OUT)/skipped.md" ]; then cat "$(MONITOR_OUT)/skipped.md" >> "$$out"; \
	else echo "## Drift monitor: no report (see the failed step)" >> "$$out"; fi

monitor-issue: ## open or update THE drift issue with $(MONITOR_OUT)/issue.md (token: issues: write)
	$(GITHUB_PY) -m mlops_template.github issue --marker drift-monitor --label drift \
	  --title "Drift detected in served traffic" --body-file "$(MONITOR_OUT)/issue.md"

retrain-dispatch: ## start the retraining workflow on RETRAIN_REF, reason $$RETRAIN_REASON (token: actions: write)
	$(GITHUB_PY) -m mlops_template.github dispatch --workflow retrain.yml --ref "$$RETRAIN_REF" \
	  --input "reason=$${RETRAIN_REASON:-drift detected}"

retrain-data: $(SETUP) ## re-extract data.source; say whether it is a new DVC data version
	$(RETRAIN) refresh

retrain-decide: $(SETUP) ## after make pr-report: propose a PR (new data or a better model) or stop with exit 0
	$(RETRAIN) decide

retrain-commit: $(SETUP) ## commit dvc.lock, metrics, metadata on retrain/candidate; write the git bundle
	$(RETRAIN) commit

retrain-publish: ## push retrain/candidate from the bundle, open or update its ONE PR (token: contents+PR write)
	$(GITHUB_PY) -m mlops_template.monitoring.retrain publish --base "$(RETRAIN_BASE)"

retrain-summary: ## append what the retraining decided (and the report) to the GitHub job summary
	@out="$${GITHUB_STEP_SUMMARY:?is not set: retrain-summary writes the GitHub Actions job summary}"; \
	if [ -f reports/retrain/pr-body.md ]; then cat reports/retrain/pr-body.md >> "$$out"; \
	else echo "## Retraining: no pull request (data unchanged, candidate not better; see the log)" >> "$$out"; fi
