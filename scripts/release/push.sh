#!/usr/bin/env bash
# Tag the built image with every release reference (git SHA, model-<N>) and push it to IMAGE_REGISTRY
# (ghcr.io in the workflow, after docker/login-action). Loads .cache/release/image.tar when the image is
# not in the local store (the push job runs on a fresh runner). PUSH_TLS_VERIFY=false for a plain-HTTP
# local registry (podman only). Writes the SHA reference to .cache/release/image and $GITHUB_OUTPUT.
# Usage: push.sh LOCAL_IMAGE
set -euo pipefail
image="${1:?local image}"
source "$(dirname "$0")/../container/env.sh"
cd "$ROOT"
engine="$CONTAINER_BACKEND"
if ! "$engine" image inspect "$image" >/dev/null 2>&1; then
  [[ -s .cache/release/image.tar ]] || { echo "push: no image $image and no .cache/release/image.tar" >&2; exit 1; }
  "$engine" load -i .cache/release/image.tar
fi
export GITHUB_SHA="${GITHUB_SHA:-$(git rev-parse HEAD)}"
export GITHUB_REPOSITORY="${GITHUB_REPOSITORY:-local/mlops-template}"
mapfile -t refs < <("${UV:-uv}" run --frozen --no-sync python -m mlops_template.release image-refs)
push_opts=()
if [[ "$engine" == podman && "${PUSH_TLS_VERIFY:-true}" == false ]]; then push_opts+=(--tls-verify=false); fi
for ref in "${refs[@]}"; do
  "$engine" tag "$image" "$ref"
  "$engine" push "${push_opts[@]}" "$ref"
  echo "push: pushed $ref"
done
mkdir -p .cache/release && echo "${refs[0]}" > .cache/release/image
if [[ -n "${GITHUB_OUTPUT:-}" ]]; then echo "image=${refs[0]}" >> "$GITHUB_OUTPUT"; fi
