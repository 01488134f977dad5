"""The release workflow: schema-valid, zizmor-clean, least privilege, pinned actions, every step a Make target."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import REPO_ROOT, VENV_BIN

WORKFLOW = REPO_ROOT / ".github/workflows/release.yml"
PINNED = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40}$")


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text())
    return data


def make_targets() -> set[str]:
    text = (REPO_ROOT / "Makefile").read_text()
    return set(re.findall(r"^([a-zA-Z0-9_-]+):", text, flags=re.M))


def test_zizmor_offline_finds_nothing() -> None:
    result = subprocess.run(
        [str(VENV_BIN / "zizmor"), "--offline", str(WORKFLOW)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_matches_githubs_workflow_schema() -> None:
    result = subprocess.run(
        [str(VENV_BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_triggers_on_main_and_by_hand(workflow: dict[str, Any]) -> None:
    on = workflow[True] if True in workflow else workflow["on"]  # YAML 1.1 reads `on` as True
    assert on["push"]["branches"] == ["main"]
    assert "rollback_to" in on["workflow_dispatch"]["inputs"]


def test_least_privilege(workflow: dict[str, Any]) -> None:
    assert workflow["permissions"] == {"contents": "read"}
    jobs = workflow["jobs"]
    writers = {name for name, job in jobs.items() if "write" in (job.get("permissions") or {}).values()}
    assert writers == {"push"}
    assert jobs["push"]["permissions"] == {"contents": "read", "packages": "write"}
    for name in ("deploy", "rollback"):
        assert jobs[name]["environment"] == "production"
    assert jobs["deploy"]["needs"] == ["build", "push"]


def test_steps_are_pinned_make_targets(workflow: dict[str, Any]) -> None:
    targets = make_targets()
    for name, job in workflow["jobs"].items():
        for step in job["steps"]:
            if "uses" in step:
                assert PINNED.match(step["uses"]), f"{name}: {step['uses']} is not pinned to a commit SHA"
                if step["uses"].startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False
                continue
            words = step["run"].split()
            assert words[0] == "make", f"{name}: step {step.get('name')!r} does not call make"
            unknown = [w for w in words[1:] if "=" not in w and w not in targets]
            assert not unknown, f"{name}: unknown make targets {unknown}"
            assert "${{" not in step["run"], f"{name}: expressions belong in env:, not in run:"
    # and every pinned SHA carries its version in a comment
    for line in WORKFLOW.read_text().splitlines():
        if "uses:" in line:
            assert re.search(r"@[0-9a-f]{40} # v\d", line), line


@pytest.mark.skipif(shutil.which("npm") is None, reason="needs node + npm for GitHub's workflow parser")
def test_githubs_own_parser_accepts_it(tmp_path: Path) -> None:
    check = [str(REPO_ROOT / ".ci/emulation/workflow-check/run.sh")]
    result = subprocess.run(["bash", *check, str(WORKFLOW)], capture_output=True, text=True, check=False, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    # and it does catch what the JSON schema cannot: a broken expression
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("inputs.rollback_to == ''", "inputs.rollback_to == ('"))
    result = subprocess.run(["bash", *check, str(broken)], capture_output=True, text=True, check=False, timeout=300)
    assert result.returncode == 1
    assert "(Line: " in result.stdout
    assert "inputs.rollback_to == (" in result.stdout
