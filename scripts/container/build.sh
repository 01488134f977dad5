#!/usr/bin/env bash
# Build the OCI image of a built bento: `bentoml containerize` with Docker or podman. With BASE_IMAGE set
# (podman only: a mirror of, or a local stand-in for, python:3.11-slim holding Python 3.11, CA certificates
# and uv), the bento's Dockerfile is rebased on it (mlops containerfile: ops/release/containerfile.py) and built by podman.
# Usage: build.sh BENTO_TAG IMAGE
set -euo pipefail
bento_tag="${1:?bento tag}"; image="${2:?image name}"
source "$(dirname "$0")/env.sh"
cd "$ROOT"
RUN=("${UV:-uv}" run --frozen --no-sync)
start=$(date +%s)
if [[ "$CONTAINER_BACKEND" == docker ]]; then
  "${RUN[@]}" bentoml containerize "$bento_tag" -t "$image"
elif [[ -z "${BASE_IMAGE:-}" ]]; then
  "${RUN[@]}" bentoml containerize "$bento_tag" --backend podman -t "$image"
else
  ctx="$CACHE/context"
  dockerfile="$("${RUN[@]}" mlops containerfile "$bento_tag" "$BASE_IMAGE" "$ctx")"
  podman build --network host --layers -f "$dockerfile" -t "$image" "$ctx"
fi
echo "container: built $image from $bento_tag with $CONTAINER_BACKEND in $(( $(date +%s) - start )) s"
