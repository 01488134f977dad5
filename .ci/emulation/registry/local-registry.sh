#!/usr/bin/env bash
# A real OCI registry on 127.0.0.1 for local runs and tests (Debian's `docker-registry`, distribution v2):
# stands in for GHCR so `make image-push` can be exercised offline and the pushed tags inspected.
# Usage: local-registry.sh install | local-registry.sh serve PORT DATA_DIR   (serve runs in the foreground)
set -euo pipefail
case "${1:-}" in
  install)
    if ! command -v docker-registry >/dev/null 2>&1; then
      SUDO=""; [[ "$(id -u)" != 0 ]] && SUDO="sudo"
      $SUDO apt-get update -qq
      DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq docker-registry >/dev/null
    fi
    command -v docker-registry ;;
  serve)
    port="${2:?port}"; data="${3:?data dir}"
    mkdir -p "$data"
    cat > "$data/config.yml" <<CONF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $data/storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
CONF
    exec docker-registry serve "$data/config.yml" ;;
  *) echo "usage: $0 install | serve PORT DATA_DIR" >&2; exit 2 ;;
esac
