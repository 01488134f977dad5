#!/usr/bin/env bash
# Hand the build job's results to the push and deploy jobs (one artifact folder, .cache/release/):
# the image as an archive, the bento tag and the exported bento (BentoCloud deploys the bento itself),
# next to release.json written by `make release-register`. Usage: artifacts.sh save IMAGE
set -euo pipefail
action="${1:?save}"; image="${2:?image}"
source "$(dirname "$0")/../container/env.sh"
cd "$ROOT"
out="$ROOT/.cache/release"  # absolute: `bentoml export` misreads a relative .cache/... path
mkdir -p "$out"
[[ "$action" == save ]] || { echo "usage: artifacts.sh save IMAGE" >&2; exit 2; }
tag="$(cat build/bento/tag.txt)"
echo "$tag" > "$out/bento_tag"
rm -f "$out/image.tar" "$out/bento.bento"
"$CONTAINER_BACKEND" save -o "$out/image.tar" "$image"
"${UV:-uv}" run --frozen --no-sync bentoml export "$tag" "$out/bento.bento" >/dev/null
echo "$image" > "$out/local_image"
ls -la "$out"
