"""GitHub's own workflow parser (npm ``@actions/workflow-parser``, run by ``make workflow-check``) accepts
every workflow, and catches what the JSON schema cannot: a broken expression.

An integration test, not a unit test: the first run installs the parser from the npm registry into
``.cache/workflow-check`` (once per checkout), so it does not belong in ``make test-unit``, which every PR
and every fork runs inside its workflows.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import REPO_ROOT

CHECK = ["bash", str(REPO_ROOT / ".ci/emulation/workflow-check/run.sh")]
WORKFLOWS = sorted((REPO_ROOT / ".github/workflows").glob("*.yml"))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("npm") is None, reason="needs node + npm (make test-deps installs them)"),
]


def test_githubs_own_parser_accepts_every_workflow() -> None:
    result = subprocess.run([*CHECK, *map(str, WORKFLOWS)], capture_output=True, text=True, check=False, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(": ok") == len(WORKFLOWS), result.stdout


def test_it_catches_a_broken_expression(tmp_path: Path) -> None:
    release = REPO_ROOT / ".github/workflows/release.yml"
    broken = tmp_path / "broken.yml"
    text = release.read_text()
    assert "inputs.rollback_to == ''" in text
    broken.write_text(text.replace("inputs.rollback_to == ''", "inputs.rollback_to == ('"))
    result = subprocess.run([*CHECK, str(broken)], capture_output=True, text=True, check=False, timeout=600)
    assert result.returncode == 1
    assert "(Line: " in result.stdout
    assert "inputs.rollback_to == (" in result.stdout
