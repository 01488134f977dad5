#!/usr/bin/env bash
# make pr-push: after `make lock-check` passed, push this pull request's DVC outputs (the model, the data, the
# predictions, as the reviewed run produced them) to the DVC remote, so the release after the merge pulls exactly
# what was reviewed instead of rebuilding it. Then says which outputs the committed dvc.lock pins are on the remote
# (log and job summary).
#
# The remote: the one `make dvc-pull` uses (scripts/pr/remote.sh). Skips, saying why, without a remote, and on a
# pull request from a fork (GitHub passes it no secrets: nothing can be written). Fails when the push fails.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/pr/remote.sh

summary() { [[ -z "${GITHUB_STEP_SUMMARY:-}" ]] || printf '%s\n\n' "$1" >>"$GITHUB_STEP_SUMMARY"; }

if [[ "${PR_FROM_FORK:-false}" == "true" ]]; then
  note="pr-push: skipped: a pull request from a fork gets no credentials (GitHub passes no secrets to pull requests from forks), so its outputs are not pushed to the DVC remote; the release after the merge rebuilds them from the merged commit (dvc repro) and checks them against dvc.lock"
  echo "::notice::$note"
  summary "**DVC remote:** ${note#pr-push: }."
  exit 0
fi
if ! remote_select; then
  echo "pr-push: skipped ($skip)"
  summary "**DVC remote:** nothing pushed ($skip)."
  exit 0
fi
remote_configure
echo "pr-push: pushing this pull request's outputs to remote '$remote' ($url)"
if ! "${DVC[@]}" push --remote "$remote"; then
  echo "::error::pr-push: could not push to remote '$remote' ($url): the release after the merge will not find this PR's outputs there. Check that the remote's credentials (in PR jobs the repository secrets AWS_CI_ACCESS_KEY_ID / AWS_CI_SECRET_ACCESS_KEY: docs/credentials.md) may add objects to it."
  exit 1
fi
"${UV:-uv}" run --frozen --no-sync mlops dvc-remote pushed --remote "$remote" --url "$url"
