#!/usr/bin/env bash
# Run .github/workflows/release.yml on this machine under act (host mode), all jobs, with the act stand-ins
# of .ci/emulation/act/standins (from the PR-workflow harness; download-artifact and login-action are the release's)
# and a real registry on 127.0.0.1 in place of GHCR (Debian's docker-registry, started and stopped here).
# Optional: MLFLOW_TRACKING_URI=http://127.0.0.1:PORT (a running `mlflow server`) to exercise the registry
# side; ROLLBACK_TO=N runs the manual-dispatch rollback instead. Work files go to $ACT_RELEASE_WORK (default /tmp/act-release-UID).
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"; cd "$root"
# not under .cache: BentoML refuses paths with a hidden component ("Accessing hidden files is not allowed")
work="${ACT_RELEASE_WORK:-${TMPDIR:-/tmp}/act-release-$(id -u)}"; standins="$root/.ci/emulation/act/standins"
rm -rf "$work/records"; mkdir -p "$work/records" "$work/xdg"
act="$root/.venv/bin/act"; [[ -x "$act" ]] || act="$(command -v act)"
workflow=.github/workflows/release.yml
args=()
while read -r name sha; do
  [[ "$name" == actions/checkout ]] && continue  # act copies the working copy itself
  [[ -f "$standins/$name/action.yml" ]] || { echo "act-release: no stand-in for $name in $standins" >&2; exit 1; }
  args+=(--local-repository "$name@$sha=$standins/$name")
done < <(grep -oE "uses: [^@ ]+@[0-9a-f]{40}" "$workflow" | sed 's/uses: //; s/@/ /' | sort -u)

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
bash .ci/emulation/registry/local-registry.sh install >/dev/null
bash .ci/emulation/registry/local-registry.sh serve "$port" "$work/registry" >"$work/registry.log" 2>&1 &
registry_pid=$!
trap 'kill "$registry_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.2; done

if [[ -n "${ROLLBACK_TO:-}" ]]; then
  event=workflow_dispatch
  printf '{"ref":"refs/heads/main","inputs":{"rollback_to":"%s"}}\n' "$ROLLBACK_TO" >"$work/event.json"
else
  event=push
  echo '{"ref":"refs/heads/main"}' >"$work/event.json"
fi
vars=(--var "IMAGE_REGISTRY=127.0.0.1:$port")
[[ -n "${MLFLOW_TRACKING_URI:-}" ]] && vars+=(--var "MLFLOW_TRACKING_URI=$MLFLOW_TRACKING_URI")
start=$(date +%s)
env -u VIRTUAL_ENV -u MLFLOW_TRACKING_URI XDG_CACHE_HOME="$work/xdg" PIP_REQUIRE_VIRTUALENV=1 \
  "$act" "$event" -C "$root" -W "$workflow" -e "$work/event.json" -P ubuntu-latest=-self-hosted \
  --action-offline-mode --cache-server-addr 127.0.0.1 -s GITHUB_TOKEN=dummy-token "${args[@]}" "${vars[@]}" \
  --env PUSH_TLS_VERIFY=false --env ACT_STANDINS="$standins" --env ACT_RECORD_DIR="$work/records" \
  --env GITHUB_REPOSITORY=octo/ml-template --env CONTAINER_CACHE="$root/.cache/container" \
  --env PIP_REQUIRE_VIRTUALENV=1 | tee "$work/act.log" | grep -E "Success - Main make|Failure|Job (succeeded|failed)|push: pushed|register:|promote:|rollback:|deploy:"
status=${PIPESTATUS[0]}
echo "act-release: act exited $status after $(( $(date +%s) - start )) s; registry tags:"
curl -s "http://127.0.0.1:$port/v2/octo/ml-template/tags/list"; echo
exit "$status"
