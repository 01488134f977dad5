#!/usr/bin/env bash
# `make container-tools` (.ci/emulation/harness.mk): install what `make container` needs here on a fresh Debian/Ubuntu
# machine (podman + runc + debootstrap), then make the local base image (base-image.sh).
# Skipped when a Docker engine answers (GitHub runners); the install is skipped when the tools are there.
set -euo pipefail
export CONTAINER_ENV_HOOK="${CONTAINER_ENV_HOOK:-$(cd "$(dirname "$0")" && pwd)/podman-env.sh}"
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
bash "$(dirname "$0")/base-image.sh"
