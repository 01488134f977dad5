#!/usr/bin/env bash
# GitHub's workflow parser on the given workflow files (default: all of .github/workflows). Installs the
# pinned parser from npm into .cache/workflow-check on first use.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"; root="$(cd "$here/../../.." && pwd)"
cache="$root/.cache/workflow-check"
if [[ ! -d "$cache/node_modules/@actions/workflow-parser" ]]; then
  mkdir -p "$cache"
  cp "$here/package.json" "$cache/"
  npm install --silent --no-package-lock --no-audit --no-fund --prefix "$cache" >/dev/null
fi
cp "$here"/*.mjs "$cache/"
files=("$@"); ((${#files[@]})) || files=("$root"/.github/workflows/*.yml)
abs=(); for f in "${files[@]}"; do abs+=("$(cd "$(dirname "$f")" && pwd)/$(basename "$f")"); done
cd "$cache" && node --import ./register.mjs check.mjs "${abs[@]}"
