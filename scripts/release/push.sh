#!/usr/bin/env bash
# Tag the built, smoke-tested image with every release reference (git SHA, model-<N>) and push it to
# IMAGE_REGISTRY (ghcr.io in the workflow, after docker/login-action), in the same job that built it: the image
# never travels as an artifact. Later jobs refer to it by digest: REPO@sha256:<digest> is written to
# .cache/release/image, the release record and $GITHUB_OUTPUT (image=...).
# PUSH_TLS_VERIFY=false for a plain-HTTP local registry (podman only). Usage: push.sh LOCAL_IMAGE
set -euo pipefail
image="${1:?local image}"
source "$(dirname "$0")/../container/env.sh"
cd "$ROOT"
engine="$CONTAINER_BACKEND"
"$engine" image inspect "$image" >/dev/null 2>&1 || { echo "push: no image $image: run make container" >&2; exit 1; }
export GITHUB_SHA="${GITHUB_SHA:-$(git rev-parse HEAD)}"
export GITHUB_REPOSITORY="${GITHUB_REPOSITORY:-local/mlops-template}"
mapfile -t refs < <("${UV:-uv}" run --frozen --no-sync mlops release image-refs)
push_opts=()
if [[ "$engine" == podman && "${PUSH_TLS_VERIFY:-true}" == false ]]; then push_opts+=(--tls-verify=false); fi
mkdir -p .cache/release
digest=""
for ref in "${refs[@]}"; do
  "$engine" tag "$image" "$ref"
  if [[ "$engine" == podman ]]; then
    "$engine" push "${push_opts[@]}" --digestfile .cache/release/digest "$ref"
    digest="$(cat .cache/release/digest)"
  else
    out="$("$engine" push "$ref" | tee /dev/stderr)"
    digest="$(grep -oE 'digest: sha256:[0-9a-f]{64}' <<<"$out" | tail -1 | cut -d' ' -f2)"
  fi
  echo "push: pushed $ref ($digest)"
done
[[ "$digest" =~ ^sha256:[0-9a-f]{64}$ ]] || { echo "push: could not read the pushed digest (got '$digest')" >&2; exit 1; }
by_digest="${refs[0]%:*}@$digest"
echo "$by_digest" > .cache/release/image
"${UV:-uv}" run --frozen --no-sync python -c \
  "import sys; from mlops_template.ops.serving.record import ReleaseRecord; ReleaseRecord.merge(image=sys.argv[1], image_digest=sys.argv[2])" \
  "$by_digest" "$digest"
echo "push: image=$by_digest"
if [[ -n "${GITHUB_OUTPUT:-}" ]]; then echo "image=$by_digest" >> "$GITHUB_OUTPUT"; fi
