#!/usr/bin/env bash
# make dvc-pull: bring DVC-tracked data (`.dvc` files) and the outputs dvc.lock names (main's, for every stage a
# pull request did not change) from the DVC remote, so a PR run starts from main's model instead of rebuilding it.
#
# The remote: DVC_REMOTE_URL when set (as for `make dvc-push`; written to .dvc/config.local, never committed),
# else the default remote of .dvc/config (scripts/pr/remote.sh, shared with `make pr-push`). Never fails the job:
# it skips, saying why, when no remote is configured, when the remote is a folder that is not on this machine, or
# when it cannot be read (a pull request from a fork gets no secrets); then the pipeline rebuilds what is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/pr/remote.sh

fork_note="no credentials in a fork PR (GitHub passes no secrets to pull requests from forks): main's model will be rebuilt"
if ! remote_select; then
  echo "dvc-pull: skipped ($skip)"
  exit 0
fi
if [[ "${PR_FROM_FORK:-false}" == "true" && "$url" == s3://* && -z "${AWS_ACCESS_KEY_ID:-}" ]]; then
  # Not even configured: make pr-report must not try the remote either.
  echo "dvc-pull: skipped: remote '$remote' ($url): $fork_note"
  exit 0
fi
remote_configure
echo "dvc-pull: pulling from remote '$remote' ($url)"
if "${DVC[@]}" pull --remote "$remote" --allow-missing; then
  echo "dvc-pull: done"
elif [[ "${PR_FROM_FORK:-false}" == "true" ]]; then
  echo "dvc-pull: could not read remote '$remote': $fork_note"
else
  echo "::warning::dvc-pull: could not read remote '$remote' ($url): main's model will be rebuilt. Check the remote's credentials (in PR and main-cache jobs the repository secrets AWS_CI_ACCESS_KEY_ID / AWS_CI_SECRET_ACCESS_KEY: docs/credentials.md)."
fi
