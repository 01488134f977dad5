# Sourced by scripts/pr/dvc-pull.sh (make dvc-pull) and scripts/pr/dvc-push.sh (make pr-push): which DVC remote a
# CI job uses, and whether it can use it here.
#
# remote_select: sets `remote` and `url`: DVC_REMOTE_URL when set (the remote `ci`, written to .dvc/config.local by
#   remote_configure, never committed), else the default remote of .dvc/config. Returns 1 with `skip` saying why
#   when there is none, or when it is a folder that is not on this machine.
# remote_configure: for `ci`, writes it (and DVC_REMOTE_ENDPOINT_URL, for MinIO, R2, ...) to .dvc/config.local as
#   the default remote, so `make pr-report` reads main's model from it too. Credentials: the usual AWS_* variables.
DVC=("${UV:-uv}" run --frozen --no-sync dvc)

remote_select() {
  remote="" url="" skip=""
  if [[ -n "${DVC_REMOTE_URL:-}" ]]; then
    remote=ci url="$DVC_REMOTE_URL"
  else
    remote="$("${DVC[@]}" remote default 2>/dev/null || true)"
    url="$([[ -z "$remote" ]] || "${DVC[@]}" config "remote.$remote.url" 2>/dev/null || true)"
  fi
  if [[ -z "$remote" ]]; then
    skip="no DVC remote configured: set DVC_REMOTE_URL or \`dvc remote add -d\`"
    return 1
  fi
  if [[ "$url" != *://* ]]; then
    # A folder remote; DVC resolves a relative path against .dvc/ (where the config is).
    local folder="$url"
    [[ "$folder" == /* ]] || folder=".dvc/$folder"
    if [[ ! -d "$folder" ]]; then
      skip="remote '$remote' is the folder $url, which is not on this machine"
      return 1
    fi
  fi
}

remote_configure() {
  [[ "$remote" == ci ]] || return 0
  "${DVC[@]}" remote add --local --force --default ci "$DVC_REMOTE_URL" >/dev/null
  if [[ -n "${DVC_REMOTE_ENDPOINT_URL:-}" ]]; then
    "${DVC[@]}" remote modify --local ci endpointurl "$DVC_REMOTE_ENDPOINT_URL"
  fi
}
