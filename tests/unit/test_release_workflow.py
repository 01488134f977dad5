"""The release workflow: schema-valid, zizmor-clean, least privilege, pinned actions, every step a Make target."""

from __future__ import annotations

import re
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


def test_zizmor_auditor_persona_finds_nothing() -> None:
    result = subprocess.run(
        [str(VENV_BIN / "zizmor"), "--offline", "--persona", "auditor", str(WORKFLOW)],
        capture_output=True,
        text=True,
        check=False,
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
    assert workflow["permissions"] == {}
    jobs = workflow["jobs"]
    assert jobs["build"]["permissions"] == {"contents": "read", "packages": "write"}
    assert jobs["deploy"]["permissions"] == {"contents": "write"}  # the deploy branch only
    assert jobs["rollback"]["permissions"] == {"contents": "write"}
    assert jobs["build"]["environment"] == "release"
    for name in ("deploy", "rollback"):
        assert jobs[name]["environment"] == "production"
    # every secret is read in a job that declares an environment (deploy secrets: production)
    for name, job in jobs.items():
        if "secrets." in yaml.safe_dump(job["steps"]):
            assert job.get("environment"), name
    assert "KUBE_CONFIG" not in yaml.safe_dump(jobs["build"])
    assert jobs["deploy"]["needs"] == "build"


def _runs(job: dict[str, Any]) -> list[str]:
    return [step["run"] for step in job["steps"] if "run" in step]


def test_only_the_default_branch_ships(workflow: dict[str, Any]) -> None:
    for name, job in workflow["jobs"].items():
        runs = _runs(job)
        assert runs[0] == "make release-guard", name
        guard = next(step for step in job["steps"] if step.get("run") == "make release-guard")
        assert guard["env"] == {
            "REF": "${{ github.ref }}",
            "DEFAULT_BRANCH": "${{ github.event.repository.default_branch }}",
        }
    env = {"PATH": "/usr/bin:/bin", "DEFAULT_BRANCH": "main"}
    for ref, ok in (("refs/heads/main", True), ("refs/heads/feature", False), ("refs/tags/main", False)):
        result = subprocess.run(
            ["make", "-s", "release-guard"], cwd=REPO_ROOT, env={**env, "REF": ref}, capture_output=True, text=True
        )
        assert (result.returncode == 0) == ok, (ref, result.stderr)
        if not ok:
            assert f"only from the default branch (main); this run is on {ref}" in result.stderr


def test_champion_moves_only_after_the_deploy(workflow: dict[str, Any]) -> None:
    build, deploy = (_runs(workflow["jobs"][name]) for name in ("build", "deploy"))
    assert build.index("make release-materialize") < build.index("make release-register")
    assert build.index("make smoke-container") < build.index("make image-push")  # one job: build, smoke, push
    assert not any("release-promote" in run for run in build)
    assert deploy[-1] == "make release-promote"
    assert (
        deploy.index("make deploy") < deploy.index("make setup gitops-publish") < deploy.index("make release-promote")
    )
    # GitOps: champion waits for the Argo CD application to be synced + Healthy (skips without ARGOCD_APP)
    assert (
        deploy.index("make setup gitops-publish")
        < deploy.index("make gitops-wait")
        < deploy.index("make release-promote")
    )
    wait = next(s for s in workflow["jobs"]["deploy"]["steps"] if s.get("run") == "make gitops-wait")
    assert wait["env"]["ARGOCD_APP"] == "${{ vars.ARGOCD_APP }}"
    assert wait["env"]["KUBE_CONFIG"] == "${{ secrets.KUBE_CONFIG }}"

    assert "image.tar" not in WORKFLOW.read_text()


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


def test_the_image_travels_in_the_release_artifact_not_a_job_output(workflow: dict[str, Any]) -> None:
    """GitHub drops a job output containing a secret's value (e.g. the registry user in `docker.io/<user>/app`):
    the deploy job reads the image and the model version from the release record in the `release` artifact."""
    text = WORKFLOW.read_text()
    assert "outputs" not in workflow["jobs"]["build"]
    assert "needs.build.outputs" not in text
    steps = workflow["jobs"]["deploy"]["steps"]
    download = next(i for i, s in enumerate(steps) if s.get("uses", "").startswith("actions/download-artifact@"))
    assert steps[download]["with"] == {"name": "release", "path": ".cache/release/"}
    uses_image = [i for i, s in enumerate(steps) if "run" in s and ("deploy" in s["run"] or "promote" in s["run"])]
    assert uses_image and min(uses_image) > download
    for step in steps:
        assert "IMAGE" not in step.get("env", {}) and "VERSION" not in step.get("env", {}), step.get("name")


def test_the_deploy_targets_read_the_image_from_the_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlops_template.cli import main
    from mlops_template.ops.release.commands import release_image
    from mlops_template.ops.release.plan import ReleaseError
    from mlops_template.ops.serving.record import ReleaseRecord

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("IMAGE", raising=False)
    for name in ("DEPLOY_TARGET", "KUBE_CONFIG", "BENTOCLOUD_API_TOKEN", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ReleaseError, match=r"no image to deploy: set IMAGE=.*make image-push"):
        release_image()
    assert main(["release", "deploy"]) == 1  # a clear error, no traceback
    assert "no image to deploy" in capsys.readouterr().err
    assert release_image(required=False) == ""
    assert main(["release", "tag-version"]) == 0  # nothing pushed (and no registry): skips
    # what `make image-push` records; a value that would run something if a shell or Make expanded it
    pushed = "ghcr.io/o/r@sha256:" + "a" * 64
    ReleaseRecord(image=pushed, version="3").save()
    assert release_image() == pushed
    monkeypatch.setenv("IMAGE", "ghcr.io/o/r:$(touch PWNED)")
    assert release_image() == "ghcr.io/o/r:$(touch PWNED)"  # the environment wins (a manual deploy)
    assert release_image("ghcr.io/o/r:explicit") == "ghcr.io/o/r:explicit"
    assert main(["release", "deploy"]) == 0 and "deploy: skipped" in capsys.readouterr().out
    assert not (tmp_path / "PWNED").exists()


PROMOTE = REPO_ROOT / ".github/workflows/promote-challenger.yml"


def test_promote_challenger_workflow_is_clean_dispatched_least_privilege_and_pinned() -> None:
    """The shadow challenger's promotion: by hand, from main, the registry's secrets only in `production`."""
    for tool in (["zizmor", "--offline", "--persona", "auditor"], ["check-jsonschema", "--builtin-schema"]):
        args = [str(VENV_BIN / tool[0]), *tool[1:]] + (["vendor.github-workflows"] if "schema" in tool[0] else [])
        result = subprocess.run([*args, str(PROMOTE)], capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
    flow: dict[Any, Any] = yaml.safe_load(PROMOTE.read_text())
    on = flow[True] if True in flow else flow["on"]
    assert set(on) == {"workflow_dispatch"}
    assert flow["permissions"] == {} and flow["concurrency"]["group"] == "release"  # never beside a release
    compare, promote = flow["jobs"]["compare"], flow["jobs"]["promote"]
    assert (compare["environment"], promote["environment"]) == ("retrain", "production")
    assert compare["permissions"] == promote["permissions"] == {"contents": "read"}
    assert promote["needs"] == "compare"
    assert "MLFLOW" not in yaml.safe_dump(compare) and "AWS_" not in yaml.safe_dump(promote)
    targets = make_targets()
    for name, job in flow["jobs"].items():
        assert _runs(job)[0] == "make release-guard", name
        for step in job["steps"]:
            if "uses" in step:
                assert PINNED.match(step["uses"]), step["uses"]
                continue
            assert "${{" not in step["run"], f"{name}: expressions belong in env:, not in run:"
            words = step["run"].split()
            assert words[0] == "make" and all("=" in w or w in targets for w in words[1:]), step["run"]
    assert _runs(compare)[-2:] == ["make monitor MONITOR_ARGS=--exit-zero", "make monitor-summary"]
    steps = promote["steps"]
    download = next(i for i, s in enumerate(steps) if s.get("uses", "").startswith("actions/download-artifact@"))
    assert steps[download]["with"] == {"name": "shadow-report", "path": "reports/monitor"}
    assert steps[-1]["run"] == "make setup promote-challenger" and len(steps) - 1 > download
