"""Static rules for the PR workflow: what zizmor and the JSON schema do not check (see docs/pr-workflow.md)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from emulation.act.harness import STANDINS, local_repository_args, pinned_actions
from tests.support import REPO_ROOT

WORKFLOW = REPO_ROOT / ".github/workflows/pr.yml"
SHA_PIN = re.compile(r"uses:\s*[\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+(\.\d+)*\s*$")


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    loaded: dict[Any, Any] = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    return loaded


def steps_of(workflow: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(name, step) for name, job in workflow["jobs"].items() for step in job["steps"]]


def make_targets() -> set[str]:
    out = subprocess.run(["make", "-s", "help"], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout
    return {line.split()[1] for line in out.splitlines() if line.strip().startswith("make ")}


def test_trigger_is_pull_request_to_main_only(workflow: dict[str, Any]) -> None:
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads the key `on` as True
    assert on == {"pull_request": {"branches": ["main"]}}


def test_least_privilege_permissions(workflow: dict[str, Any]) -> None:
    assert workflow["permissions"] == {"contents": "read"}
    writers = {name for name, job in workflow["jobs"].items() if "write" in (job.get("permissions") or {}).values()}
    commenters = {name for name, step in steps_of(workflow) if step.get("run") == "make pr-comment"}
    assert writers == commenters == {"experiment"}
    assert workflow["jobs"]["experiment"]["permissions"] == {"contents": "read", "pull-requests": "write"}


def test_superseded_runs_are_cancelled_and_every_job_has_a_timeout(workflow: dict[str, Any]) -> None:
    assert workflow["concurrency"]["cancel-in-progress"] is True
    assert "github.event.pull_request.number" in workflow["concurrency"]["group"]
    for name, job in workflow["jobs"].items():
        assert 0 < job["timeout-minutes"] <= 30, name


def test_every_run_step_is_one_make_target_that_exists(workflow: dict[str, Any]) -> None:
    targets = make_targets()
    runs = [step["run"] for _, step in steps_of(workflow) if "run" in step]
    assert runs
    for run in runs:
        assert re.fullmatch(r'make [a-z-]+( [A-Z_]+="?[^"\n]*"?)?', run), f"not a single make call: {run!r}"
        assert run.split()[1] in targets, f"{run!r}: no such target in `make help`"


def test_every_action_is_pinned_to_a_commit_sha_with_its_version(workflow: dict[str, Any]) -> None:
    lines = [line for line in WORKFLOW.read_text(encoding="utf-8").splitlines() if "uses:" in line]
    assert lines
    for line in lines:
        assert SHA_PIN.search(line), f"not pinned as `owner/name@<sha> # vX.Y.Z`: {line.strip()}"


def test_checkout_keeps_no_credentials_and_the_experiment_sees_main(workflow: dict[str, Any]) -> None:
    checkouts = [(n, s) for n, s in steps_of(workflow) if s.get("uses", "").startswith("actions/checkout@")]
    assert {n for n, _ in checkouts} == set(workflow["jobs"])
    for _, step in checkouts:
        assert step["with"]["persist-credentials"] is False
    assert next(s for n, s in checkouts if n == "experiment")["with"]["fetch-depth"] == 0


def test_report_reaches_summary_and_artifact_even_when_commenting_fails(workflow: dict[str, Any]) -> None:
    steps = workflow["jobs"]["experiment"]["steps"]
    index = {
        " ".join(step["run"].split()[:2]) if "run" in step else step["uses"].split("@")[0]: i
        for i, step in enumerate(steps)
    }
    summary, artifact = steps[index["make pr-summary"]], steps[index["actions/upload-artifact"]]
    comment = steps[index["make pr-comment"]]
    assert "!cancelled()" in summary["if"] and "!cancelled()" in artifact["if"]
    assert comment["continue-on-error"] is True
    assert comment["env"] == {"REPO_TOKEN": "${{ github.token }}"}
    assert index["make pr-report"] < index["make pr-summary"] < index["make pr-comment"] < index["make gate"]
    cml = steps[index["iterative/setup-cml"]]["with"]
    assert cml == {"version": "v0.20.6", "vega": False}


def test_dvc_cache_is_keyed_on_dvc_lock(workflow: dict[str, Any]) -> None:
    caches = [s for _, s in steps_of(workflow) if s.get("uses", "").startswith("actions/cache@")]
    assert [c["with"]["path"] for c in caches] == [".dvc/cache"]
    assert "hashFiles('dvc.lock')" in caches[0]["with"]["key"]


def test_every_action_has_a_local_stand_in_for_act() -> None:
    text = WORKFLOW.read_text(encoding="utf-8")
    args = local_repository_args(text)
    mapped = {arg.split("@")[0] for arg in args if arg != "--local-repository"}
    assert mapped == {name for name, _ in pinned_actions(text)} - {"actions/checkout"}
    assert all((STANDINS / name / "action.yml").is_file() for name in mapped)


def test_a_missing_stand_in_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no stand-in for acme/thing@"):
        local_repository_args("    - uses: acme/thing@" + "0" * 40 + " # v1\n", standins=tmp_path)
