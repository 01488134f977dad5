#!/usr/bin/env bash
# GitHub's workflow parser on the given workflow files (default: all of .github/workflows). Installs the
# pinned parser from npm into .cache/workflow-check on first use.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"; root="$(cd "$here/../../.." && pwd)"
cache="$root/.cache/workflow-check"
# Node ignores SSL_CERT_FILE: hand the same CA bundle to npm and node (a TLS-intercepting proxy needs it).
if [[ -z "${NODE_EXTRA_CA_CERTS:-}" && -n "${SSL_CERT_FILE:-}" ]]; then export NODE_EXTRA_CA_CERTS="$SSL_CERT_FILE"; fi
if [[ ! -d "$cache/node_modules/@actions/workflow-parser" ]]; then
  mkdir -p "$cache"
  cp "$here/package.json" "$cache/"
  if ! npm install --loglevel=error --no-update-notifier --no-package-lock --no-audit --no-fund --prefix "$cache" >/dev/null; then
    rm -rf "$cache/node_modules"
    echo "workflow-check: npm could not install @actions/workflow-parser (see the npm error above)." >&2
    echo "  Behind a TLS proxy, set SSL_CERT_FILE or NODE_EXTRA_CA_CERTS to its CA bundle." >&2
    exit 1
  fi
fi
cp "$here"/*.mjs "$cache/"
files=("$@"); ((${#files[@]})) || files=("$root"/.github/workflows/*.yml)
abs=(); for f in "${files[@]}"; do abs+=("$(cd "$(dirname "$f")" && pwd)/$(basename "$f")"); done
cd "$cache" && node --import ./register.mjs check.mjs "${abs[@]}"
