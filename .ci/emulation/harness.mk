# The test harness's Make targets, included by the Makefile when present (`-include $(wildcard .ci/*/harness.mk)`).
# They drive the local stand-ins in .ci/emulation (act, a GitHub API, a registry, podman on a machine without
# Docker; see .ci/README.md). A fork that deletes .ci/emulation keeps every product target: `make test` then
# runs without the act dependencies and `make container` builds with plain `bentoml containerize`.

.PHONY: test-deps container-tools act-pr act-release workflow-check

# The container scripts (scripts/container/env.sh) source this: podman's private config for this kind of
# machine, and the local debootstrap base image (BASE_IMAGE) that `make container-tools` makes.
export CONTAINER_ENV_HOOK := $(CURDIR)/.ci/emulation/container/podman-env.sh

test-deps: ## system packages the tests need (Node.js for the act tests); a no-op when present
	bash .ci/emulation/install-act-deps.sh

test test-extended: test-deps

container-tools: ## install podman + runc + debootstrap and make the local base image when no Docker engine answers (apt-get)
	bash .ci/emulation/container/install.sh

container test-release-act: container-tools
test-release-act: test-deps

act-pr: $(SETUP) ## run .github/workflows/pr.yml locally under act (stand-ins for marketplace actions)
	PYTHONPATH=.ci $(RUN) python -m emulation.act.harness $(ACT_ARGS)

act-release: $(SETUP) ## run release.yml under act with a local registry (MLFLOW_TRACKING_URI=..., ROLLBACK_TO=N optional)
	bash .ci/emulation/act/act-release.sh

workflow-check: ## check .github/workflows/*.yml with GitHub's own parser (npm @actions/workflow-parser)
	bash .ci/emulation/workflow-check/run.sh

