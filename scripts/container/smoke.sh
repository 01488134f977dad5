#!/usr/bin/env bash
# Smoke-test a built image: run it on 127.0.0.1, check it runs as a non-root user, wait for /readyz, compare
# predictions with the model in-process (mlops smoke), stop it. CI and the
# container test both call this. Usage: smoke.sh IMAGE
set -euo pipefail
image="${1:?image}"
source "$(dirname "$0")/env.sh"
cd "$ROOT"
RUN=("${UV:-uv}" run --frozen --no-sync)
engine="$CONTAINER_BACKEND"
port="${SMOKE_PORT:-$("${RUN[@]}" python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
start=$(date +%s)
cid="$("$engine" run -d -p "127.0.0.1:$port:3000" "$image")"
cleanup() {
  status=$?
  if ((status != 0)); then echo "--- container log"; "$engine" logs "$cid" 2>&1 | tail -40; fi
  "$engine" rm -f "$cid" >/dev/null 2>&1 || true
  exit $status
}
trap cleanup EXIT
uid="$("$engine" exec "$cid" id -u)"
user="$("$engine" image inspect --format '{{.Config.User}}' "$image")"
if [[ "$uid" == 0 ]]; then echo "smoke: FAILED: the container runs as root (image user: '${user}')" >&2; exit 1; fi
echo "smoke: container $cid runs as uid $uid (image user '$user') on 127.0.0.1:$port"
"${RUN[@]}" mlops smoke --url "http://127.0.0.1:$port" --timeout "${SMOKE_TIMEOUT:-180}"
echo "smoke: passed in $(( $(date +%s) - start )) s"
