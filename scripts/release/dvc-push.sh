#!/usr/bin/env bash
# Push DVC-tracked outputs (data, model) to the remote named by DVC_REMOTE_URL (e.g. s3://bucket/project);
# DVC_REMOTE_ENDPOINT_URL for S3-compatible stores (MinIO, R2, ...); credentials from the usual AWS_* variables.
# Skipped cleanly when DVC_REMOTE_URL is not set. The remote goes to .dvc/config.local (never committed).
set -euo pipefail
cd "$(dirname "$0")/../.."
if [[ -z "${DVC_REMOTE_URL:-}" ]]; then
  echo "dvc-push: skipped (DVC_REMOTE_URL is not set; see docs/release.md)"
  exit 0
fi
DVC=("${UV:-uv}" run --frozen --no-sync dvc)
"${DVC[@]}" remote add --local --force release "$DVC_REMOTE_URL"
if [[ -n "${DVC_REMOTE_ENDPOINT_URL:-}" ]]; then
  "${DVC[@]}" remote modify --local release endpointurl "$DVC_REMOTE_ENDPOINT_URL"
fi
"${DVC[@]}" push --remote release
