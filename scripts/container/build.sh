#!/usr/bin/env bash
# Build the OCI image of a built bento: `bentoml containerize` with Docker (GitHub runners); with podman
# (no Docker engine, no registry access) from a local debootstrap base image (.ci/emulation/container/base-image.sh).
# Usage: build.sh BENTO_TAG IMAGE
set -euo pipefail
bento_tag="${1:?bento tag}"; image="${2:?image name}"
source "$(dirname "$0")/env.sh"
cd "$ROOT"
RUN=("${UV:-uv}" run --frozen --no-sync)
start=$(date +%s)
if [[ "$CONTAINER_BACKEND" == docker ]]; then
  "${RUN[@]}" bentoml containerize "$bento_tag" -t "$image"
else
  bash "$ROOT/.ci/emulation/container/base-image.sh"
  ctx="$CACHE/context"
  dockerfile="$("${RUN[@]}" python -m mlops_template.release.containerfile "$bento_tag" "$BASE_IMAGE" "$ctx")"
  podman build --network host --layers -f "$dockerfile" -t "$image" "$ctx"
fi
echo "container: built $image from $bento_tag with $CONTAINER_BACKEND in $(( $(date +%s) - start )) s"
