#!/usr/bin/env bash
# System packages the act-driven PR-workflow tests need (tests/integration/test_pr_workflow_act.py,
# make act-pr, make bench-pr): Node.js for the actions/cache stand-in (a node action with a post step,
# like the real one). git, make and python3 are assumed; uv comes from the Makefile's bootstrap.
set -euo pipefail
if command -v node >/dev/null 2>&1; then exit 0; fi
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq nodejs
