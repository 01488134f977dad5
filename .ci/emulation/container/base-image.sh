#!/usr/bin/env bash
# Make the base image for podman builds when no registry can be pulled from: Debian bookworm (python3.11 =
# the service's Python minor version) from debootstrap, with the host's extra CA certificates (PyPI may be
# reached through a TLS-intercepting proxy) and a `uv` binary (BentoML's Dockerfile needs uv or pip).
# Cached twice: the podman image itself, and the rootfs tarball in .cache/container (re-imported in seconds).
set -euo pipefail
export CONTAINER_ENV_HOOK="${CONTAINER_ENV_HOOK:-$(cd "$(dirname "$0")" && pwd)/podman-env.sh}"
source "$(dirname "$0")/../../../scripts/container/env.sh"
if [[ "$CONTAINER_BACKEND" != podman ]]; then echo "container: $CONTAINER_BACKEND backend; no local base image needed"; exit 0; fi
if podman image exists "$BASE_IMAGE"; then echo "container: base image $BASE_IMAGE is cached"; exit 0; fi
tarball="$CACHE/base-rootfs.tar"
if [[ ! -s "$tarball" ]]; then
  # A real uv binary for the image (a PATH `uv` may be a shim script): the `uv` wheel from PyPI ships one.
  if [[ ! -x "$CACHE/uv-venv/bin/uv" ]]; then
    "${UV:-uv}" venv -q --python python3 "$CACHE/uv-venv" && "${UV:-uv}" pip install -q --python "$CACHE/uv-venv/bin/python" uv
  fi
  uv_bin="$CACHE/uv-venv/bin/uv"
  mirror="${DEBIAN_MIRROR:-$(grep -hoE '^(URIs:|deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1 | awk '{print $2}' || true)}"
  mirror="${mirror:-http://deb.debian.org/debian}"
  rootfs="$CACHE/rootfs.tmp"
  rm -rf "$rootfs"; mkdir -p "$rootfs"
  echo "container: debootstrap bookworm from $mirror (about a minute)"
  debootstrap --variant=minbase --include=python3,ca-certificates bookworm "$rootfs" "$mirror" >"$CACHE/debootstrap.log" 2>&1 \
    || { tail -20 "$CACHE/debootstrap.log" >&2; exit 1; }
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
    chroot "$rootfs" update-ca-certificates >/dev/null
  fi
  install -m 0755 "$uv_bin" "$rootfs/usr/local/bin/uv"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
  rm -rf "$rootfs"
fi
podman import --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' "$tarball" "$BASE_IMAGE" >/dev/null
echo "container: imported $BASE_IMAGE"
