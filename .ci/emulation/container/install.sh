#!/usr/bin/env bash
# Install what `make container` needs on a fresh Debian/Ubuntu machine: podman + runc + debootstrap.
# Skipped when a Docker engine answers (GitHub runners) or when the tools are already there.
set -euo pipefail
source "$(dirname "$0")/../../../scripts/container/env.sh"
if [[ "$CONTAINER_BACKEND" == docker ]]; then echo "container: docker engine found; nothing to install"; exit 0; fi
missing=()
for tool in podman runc debootstrap; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
if ((${#missing[@]})); then
  SUDO=""; [[ "$(id -u)" != 0 ]] && SUDO="sudo"
  echo "container: installing ${missing[*]} with apt-get"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq podman runc debootstrap >/dev/null
fi
podman --version
