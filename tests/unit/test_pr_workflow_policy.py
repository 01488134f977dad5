"""Static rules for the PR workflows: what zizmor and the JSON schema do not check (see docs/pr-workflow.md and
docs/github-platform.md): pr.yml (runs PR code, read-only), pr-comment.yml (workflow_run commenter, trusted),
main-cache.yml (saves main's DVC cache for pull requests)."""

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
COMMENTER = REPO_ROOT / ".github/workflows/pr-comment.yml"
MAIN_CACHE = REPO_ROOT / ".github/workflows/main-cache.yml"
WORKFLOWS = (WORKFLOW, COMMENTER, MAIN_CACHE)
SHA_PIN = re.compile(r"uses:\s*[\w.-]+/[\w.-]+(/[\w.-]+)*@[0-9a-f]{40} # v\d+(\.\d+)*\s*$")


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    loaded: dict[Any, Any] = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    return loaded


def load(path: Path) -> dict[str, Any]:
    loaded: dict[Any, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return loaded


def trigger(workflow: dict[str, Any]) -> Any:
    return workflow.get("on", workflow.get(True))  # YAML 1.1 reads the key `on` as True


def steps_of(workflow: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(name, step) for name, job in workflow["jobs"].items() for step in job["steps"]]


def make_targets() -> set[str]:
    out = subprocess.run(["make", "-s", "help"], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout
    return {line.split()[1] for line in out.splitlines() if line.strip().startswith("make ")}


def test_trigger_is_pull_request_to_main_only(workflow: dict[str, Any]) -> None:
    assert trigger(workflow) == {"pull_request": {"branches": ["main"]}}
    for path in WORKFLOWS:
        assert "pull_request_target" not in trigger(load(path)), path.name


def test_the_run_that_executes_pr_code_can_write_nothing(workflow: dict[str, Any]) -> None:
    assert workflow["permissions"] == {"contents": "read"}
    for name, job in workflow["jobs"].items():
        assert job.get("permissions", {"contents": "read"}) == {"contents": "read"}, name
    text = WORKFLOW.read_text(encoding="utf-8")
    assert "pull-requests: write" not in text and "cml comment" not in text and "setup-cml" not in text


def test_the_commenter_is_trusted_and_touches_no_pr_code() -> None:
    """workflow_run after pr-experiment; least privilege; checks out the default branch only; the artifact of the
    PR run is data (downloaded by run id, read by make pr-comment-post), never interpolated into a script."""
    commenter = load(COMMENTER)
    assert trigger(commenter) == {"workflow_run": {"workflows": ["pr-experiment"], "types": ["completed"]}}
    assert commenter["permissions"] == {}
    (job,) = commenter["jobs"].values()
    # contents: read: without it, actions/checkout fails on a private repository ("Repository not found")
    assert job["permissions"] == {"contents": "read", "actions": "read", "pull-requests": "write"}
    assert "github.event.workflow_run.event == 'pull_request'" in job["if"]
    steps = job["steps"]
    checkout = next(s for s in steps if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"] == {"persist-credentials": False}  # no ref: the default branch, never the PR head
    download = next(s for s in steps if s.get("uses", "").startswith("actions/download-artifact@"))
    assert (
        download["with"]["run-id"] == "${{ github.event.workflow_run.id }}" and download["with"]["name"] == "pr-report"
    )
    runs = [s["run"] for s in steps if "run" in s]
    assert runs == ["make pr-comment-post"]
    # Nothing from the PR run (head branch, title, artifact) is expanded inside a run: script.
    assert all("${{" not in s.get("run", "") for s in steps)
    publish = job["env"]["PUBLISH_IMAGES"]
    assert "github.event.repository.private == false" in publish and "vars." in publish


def test_main_saves_the_dvc_cache_that_prs_restore(workflow: dict[str, Any]) -> None:
    main_cache = load(MAIN_CACHE)
    assert trigger(main_cache)["push"]["branches"] == ["main"]
    assert main_cache["permissions"] == {"contents": "read"}
    steps = main_cache["jobs"]["dvc-cache"]["steps"]
    restore = next(s for s in steps if s.get("uses", "").startswith("actions/cache/restore@"))
    save = next(s for s in steps if s.get("uses", "").startswith("actions/cache/save@"))
    pr_cache = next(s for _, s in steps_of(workflow) if s.get("uses", "").startswith("actions/cache@"))
    # The same key scheme, so a PR's exact key (unchanged dvc.lock) or its prefix finds main's entry.
    assert restore["with"]["key"] == pr_cache["with"]["key"]
    assert restore["with"]["restore-keys"] == pr_cache["with"]["restore-keys"]
    assert save["with"]["key"] == "${{ steps.dvc-cache.outputs.cache-primary-key }}"
    assert "cache-hit != 'true'" in save["if"]
    runs = [s["run"] for s in steps if "run" in s]
    assert runs == ["make setup", "make dvc-pull", "make repro", "make dvc-pin-map"]
    # the pin map (committed pins -> this runner's md5s) is written inside .dvc/cache before it is saved
    assert steps.index(next(s for s in steps if s.get("run") == "make dvc-pin-map")) < steps.index(save)


def test_credentials_reach_the_experiment_job(workflow: dict[str, Any]) -> None:
    env = workflow["jobs"]["experiment"]["env"]
    # the CI credentials (log runs, add DVC objects), never the release's names: docs/credentials.md
    ci = {
        "MLFLOW_TRACKING_TOKEN": "MLFLOW_CI_TOKEN",
        "MLFLOW_TRACKING_PASSWORD": "MLFLOW_CI_PASSWORD",
        "AWS_ACCESS_KEY_ID": "AWS_CI_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY": "AWS_CI_SECRET_ACCESS_KEY",
    }
    for variable, secret in ci.items():
        assert env[variable] == f"${{{{ secrets.{secret} }}}}"
    assert env["DVC_REMOTE_URL"] == "${{ vars.DVC_REMOTE_URL }}"
    assert "head.repo.full_name != github.repository" in env["PR_FROM_FORK"]


def test_the_data_job_pulls_from_the_dvc_remote_with_read_credentials(workflow: dict[str, Any]) -> None:
    """`dvc add`-tracked data and an s3:// source need the remote and its credentials before `make test-data`;
    a fork PR gets none and `make dvc-pull` skips (PR_FROM_FORK)."""
    job = workflow["jobs"]["data"]
    runs = [s["run"] for s in job["steps"] if "run" in s]
    assert runs.index("make setup") < runs.index("make dvc-pull") < runs.index("make test-data")
    experiment = workflow["jobs"]["experiment"]["env"]
    for key in ("DVC_REMOTE_URL", "DVC_REMOTE_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert job["env"][key] == experiment[key], key
    assert job["env"]["AWS_DEFAULT_REGION"] == experiment["AWS_DEFAULT_REGION"]
    assert job["env"]["PR_FROM_FORK"] == experiment["PR_FROM_FORK"]
    assert "MLFLOW_TRACKING_TOKEN" not in job["env"]  # it logs no run


def test_the_prs_outputs_are_pushed_only_after_the_lock_check_passed(workflow: dict[str, Any]) -> None:
    steps = workflow["jobs"]["experiment"]["steps"]
    runs = [s.get("run", "") for s in steps]
    push = steps[runs.index("make pr-push")]
    assert runs.index("make lock-check") < runs.index("make pr-push") < runs.index("make gate")
    assert push["if"] == "${{ steps.lock.outcome == 'success' }}"
    assert steps[runs.index("make lock-check")]["id"] == "lock"


def test_superseded_runs_are_cancelled_and_every_job_has_a_timeout(workflow: dict[str, Any]) -> None:
    assert workflow["concurrency"]["cancel-in-progress"] is True
    assert "github.event.pull_request.number" in workflow["concurrency"]["group"]
    for name, job in workflow["jobs"].items():
        assert 0 < job["timeout-minutes"] <= 30, name


def test_every_run_step_is_one_make_target_that_exists(workflow: dict[str, Any]) -> None:
    targets = make_targets()
    runs = [step["run"] for path in WORKFLOWS for _, step in steps_of(load(path)) if "run" in step]
    assert runs
    for run in runs:
        assert re.fullmatch(r'make [a-z-]+( [A-Z_]+="?[^"\n]*"?)?', run), f"not a single make call: {run!r}"
        assert run.split()[1] in targets, f"{run!r}: no such target in `make help`"


def test_every_action_is_pinned_to_a_commit_sha_with_its_version(workflow: dict[str, Any]) -> None:
    lines = [line for path in WORKFLOWS for line in path.read_text(encoding="utf-8").splitlines() if "uses:" in line]
    assert lines
    for line in lines:
        assert SHA_PIN.search(line), f"not pinned as `owner/name@<sha> # vX.Y.Z`: {line.strip()}"


def test_checkout_keeps_no_credentials_and_the_experiment_sees_main(workflow: dict[str, Any]) -> None:
    checkouts = [(n, s) for n, s in steps_of(workflow) if s.get("uses", "").startswith("actions/checkout@")]
    assert {n for n, _ in checkouts} == set(workflow["jobs"])
    for _, step in checkouts:
        assert step["with"]["persist-credentials"] is False
    assert next(s for n, s in checkouts if n == "experiment")["with"]["fetch-depth"] == 0


def test_report_reaches_summary_and_artifact_and_the_gate_always_runs(workflow: dict[str, Any]) -> None:
    steps = workflow["jobs"]["experiment"]["steps"]
    index = {
        " ".join(step["run"].split()[:2]) if "run" in step else step["uses"].split("@")[0]: i
        for i, step in enumerate(steps)
    }
    summary, artifact = steps[index["make pr-summary"]], steps[index["actions/upload-artifact"]]
    assert "!cancelled()" in summary["if"] and "!cancelled()" in artifact["if"]
    assert "!cancelled()" in steps[index["make gate"]]["if"]
    assert artifact["with"]["name"] == "pr-report"  # what pr-comment.yml downloads
    assert index["make dvc-pull"] < index["make pr-report"] < index["make lock-check"] < index["make pr-summary"]
    # the candidate's bento is built and exercised once the pipeline ran, and its verdict reaches the summary
    assert index["make lock-check"] < index["make serve-check"] < index["make pr-summary"]
    assert steps[index["make serve-check"]]["if"] == "${{ !cancelled() && steps.report.outcome == 'success' }}"
    assert index["make pr-summary"] < index["actions/upload-artifact"] < index["make gate"]
    assert steps[index["make lock-check"]]["if"] == "${{ steps.report.outcome == 'success' }}"


def test_dvc_cache_is_keyed_on_dvc_lock(workflow: dict[str, Any]) -> None:
    caches = [s for _, s in steps_of(workflow) if s.get("uses", "").startswith("actions/cache@")]
    assert [c["with"]["path"] for c in caches] == [".dvc/cache"]
    assert "hashFiles('dvc.lock')" in caches[0]["with"]["key"]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_has_a_local_stand_in_for_act(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    args = local_repository_args(text)
    mapped = {arg.split("@")[0] for arg in args if arg != "--local-repository"}
    assert mapped == {name for name, _ in pinned_actions(text)}  # checkout too: its stand-in checks permissions
    assert all((STANDINS / name / "action.yml").is_file() for name in mapped)
    for sub in re.findall(r"uses:\s*[\w.-]+/[\w.-]+/([\w./-]+)@", text):  # actions/cache/restore -> restore/
        assert any((STANDINS / name / sub / "action.yml").is_file() for name in mapped), sub


def test_a_missing_stand_in_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no stand-in for acme/thing@"):
        local_repository_args("    - uses: acme/thing@" + "0" * 40 + " # v1\n", standins=tmp_path)


ALL_WORKFLOWS = sorted((REPO_ROOT / ".github/workflows").glob("*.yml"))


@pytest.mark.parametrize("path", ALL_WORKFLOWS, ids=lambda p: p.name)
def test_every_artifact_upload_can_be_re_run(path: Path) -> None:
    """`upload-artifact` v4+ answers 409 to a second upload of a name in the same run ("re-run failed jobs")."""
    uploads = [s for _, s in steps_of(load(path)) if s.get("uses", "").startswith("actions/upload-artifact@")]
    for step in uploads:
        assert step["with"].get("overwrite") is True, f"{path.name}: upload {step['with'].get('name')!r}"


def github_glob(pattern: str) -> re.Pattern[str]:
    """GitHub's path filter syntax: `*` stays within one directory, `**` crosses directories."""
    regex = ""
    for part in re.split(r"(\*\*|\*)", pattern):
        regex += {"**": ".*", "*": "[^/]*"}.get(part, re.escape(part))
    return re.compile(regex)


def skipped_by(workflow: dict[str, Any], changed: list[str]) -> bool:
    """Whether a push to main that changes exactly these files is ignored (every file matches paths-ignore)."""
    ignore = [github_glob(p) for p in trigger(workflow)["push"].get("paths-ignore", [])]
    return all(any(p.fullmatch(file) for p in ignore) for file in changed)


RELEASE = REPO_ROOT / ".github/workflows/release.yml"


@pytest.mark.parametrize("path", [RELEASE, MAIN_CACHE], ids=lambda p: p.name)
def test_a_docs_only_merge_neither_releases_nor_rebuilds_the_cache(path: Path) -> None:
    flow = load(path)
    assert skipped_by(flow, ["docs/release.md"])
    assert skipped_by(flow, ["README.md", "docs/img/flow.png", "LICENSE"])
    assert not skipped_by(flow, ["docs/release.md", "src/mlops_template/core/model.py"])  # a mixed push still ships
    for changed in ("dvc.lock", "params.yaml", "uv.lock", "Makefile", ".github/workflows/x.yml"):
        assert not skipped_by(flow, [changed]), changed
    # nothing a stage or the bento reads is ignored
    stages = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    deps = [d if isinstance(d, str) else next(iter(d)) for s in stages.values() for d in s.get("deps", [])]
    included = [i.lstrip("/") for i in yaml.safe_load((REPO_ROOT / "bentofile.yaml").read_text())["include"]]
    for dep in deps + [i.replace("**/*", "pkg/mod") for i in included]:
        assert not skipped_by(flow, [dep]), dep
    assert trigger(flow)["push"]["paths-ignore"] == trigger(load(RELEASE))["push"]["paths-ignore"]
