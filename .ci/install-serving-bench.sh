#!/usr/bin/env bash
# Installs the load generator of benchmarks/bench_serving.py (make bench-serving): wrk from Debian.
set -euo pipefail
if command -v wrk >/dev/null 2>&1; then exit 0; fi
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq wrk
