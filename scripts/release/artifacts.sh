#!/usr/bin/env bash
# Hand the build job's results to the deploy job (one small artifact folder, .cache/release/): the release record
# (release.json), the bento tag and the exported bento (BentoCloud deploys the bento itself). The image is not in
# it: it is in the registry, and the deploy job refers to it by digest. Usage: artifacts.sh save
set -euo pipefail
source "$(dirname "$0")/../container/env.sh"
cd "$ROOT"
out="$ROOT/.cache/release"  # absolute: `bentoml export` misreads a relative .cache/... path
mkdir -p "$out"
tag="$(cat build/bento/tag.txt)"
echo "$tag" > "$out/bento_tag"
"${UV:-uv}" run --frozen --no-sync python -c \
  "import sys; from mlops_template.ops.serving.record import ReleaseRecord; ReleaseRecord.merge(bento_tag=sys.argv[1])" "$tag"
rm -f "$out/image.tar" "$out/bento.bento"
"${UV:-uv}" run --frozen --no-sync bentoml export "$tag" "$out/bento.bento" >/dev/null
ls -la "$out"
