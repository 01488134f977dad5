#!/usr/bin/env bash
# make dvc-pull: bring DVC-tracked data (`.dvc` files) and the outputs dvc.lock names (main's, for every stage a
# pull request did not change) from the DVC remote, so a PR run starts from main's model instead of rebuilding it.
#
# The remote: DVC_REMOTE_URL when set (as for `make dvc-push`; written to .dvc/config.local, never committed),
# else the default remote of .dvc/config. Never fails the job: it skips, saying why, when no remote is
# configured, when the remote is a folder that is not on this machine, or when it cannot be read (a pull request
# from a fork gets no secrets); then the pipeline rebuilds what is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
DVC=("${UV:-uv}" run --frozen --no-sync dvc)

fork_note="no credentials in a fork PR (GitHub passes no secrets to pull requests from forks): main's model will be rebuilt"
if [[ -n "${DVC_REMOTE_URL:-}" ]]; then
  remote=ci url="$DVC_REMOTE_URL"
else
  remote="$("${DVC[@]}" remote default 2>/dev/null || true)"
  url="$([[ -z "$remote" ]] || "${DVC[@]}" config "remote.$remote.url" 2>/dev/null || true)"
fi
if [[ -z "$remote" ]]; then
  echo "dvc-pull: skipped (no DVC remote configured: set DVC_REMOTE_URL or \`dvc remote add -d\`)"
  exit 0
fi
if [[ "$url" != *://* ]]; then
  # A folder remote; DVC resolves a relative path against .dvc/ (where the config is).
  folder="$url"
  [[ "$folder" == /* ]] || folder=".dvc/$folder"
  if [[ ! -d "$folder" ]]; then
    echo "dvc-pull: skipped (remote '$remote' is the folder $url, which is not on this machine)"
    exit 0
  fi
fi
if [[ "${PR_FROM_FORK:-false}" == "true" && "$url" == s3://* && -z "${AWS_ACCESS_KEY_ID:-}" ]]; then
  # Not even configured: make pr-report must not try the remote either.
  echo "dvc-pull: skipped: remote '$remote' ($url): $fork_note"
  exit 0
fi
if [[ "$remote" == ci ]]; then
  # The default remote (in .dvc/config.local, never committed): make pr-report reads main's model from it too.
  "${DVC[@]}" remote add --local --force --default ci "$DVC_REMOTE_URL" >/dev/null
  if [[ -n "${DVC_REMOTE_ENDPOINT_URL:-}" ]]; then
    "${DVC[@]}" remote modify --local ci endpointurl "$DVC_REMOTE_ENDPOINT_URL"
  fi
fi
echo "dvc-pull: pulling from remote '$remote' ($url)"
if "${DVC[@]}" pull --remote "$remote" --allow-missing; then
  echo "dvc-pull: done"
elif [[ "${PR_FROM_FORK:-false}" == "true" ]]; then
  echo "dvc-pull: could not read remote '$remote': $fork_note"
else
  echo "::warning::dvc-pull: could not read remote '$remote' ($url): main's model will be rebuilt. Check the remote's credentials (in PR and main-cache jobs the repository secrets AWS_CI_ACCESS_KEY_ID / AWS_CI_SECRET_ACCESS_KEY: docs/credentials.md)."
fi
