# Sourced by the container scripts: one place for the image names, the cache folder and the backend.
# Backend: docker when a Docker engine answers, podman otherwise.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${CONTAINER_CACHE:-$ROOT/.cache/container}"
IMAGE_NAME="${IMAGE_NAME:-mlops-template-service}"
export BENTOML_HOME="${BENTOML_HOME:-$ROOT/.bentoml}"  # as the Makefile (serving block) sets it
if [[ -z "${CONTAINER_BACKEND:-}" ]]; then
  if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then CONTAINER_BACKEND=docker; else CONTAINER_BACKEND=podman; fi
fi
export CONTAINER_BACKEND
# A site's own settings for the container tools (e.g. a private podman configuration), when it needs any:
# CONTAINER_ENV_HOOK names a bash file sourced here, after the settings above.
if [[ -n "${CONTAINER_ENV_HOOK:-}" ]]; then
  # shellcheck disable=SC1090
  source "$CONTAINER_ENV_HOOK"
fi
