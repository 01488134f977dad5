"""The recording `cml` stand-in behaves like the CLI where the workflow depends on it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from emulation.act.harness import STANDINS, set_param

CML = STANDINS / "iterative/setup-cml/cml.py"


def cml(tmp_path: Path, *args: str, **env: str) -> tuple[int, list[dict[str, object]]]:
    unset = {"REPO_TOKEN", "GITHUB_TOKEN", "CML_STANDIN_DENY", "GITHUB_API_URL"}  # under act: the job's own values
    base = {k: v for k, v in os.environ.items() if k not in unset}
    records = tmp_path / "records"
    base |= {"ACT_STANDINS": str(STANDINS), "ACT_RECORD_DIR": str(records), **env}
    result = subprocess.run([sys.executable, str(CML), *args], cwd=tmp_path, env=base, check=False)
    lines = (records / "calls.jsonl").read_text().splitlines()
    return result.returncode, [json.loads(line) for line in lines]


@pytest.fixture
def report(tmp_path: Path) -> Path:
    (tmp_path / "roc.png").write_bytes(b"png")
    path = tmp_path / "report.md"
    path.write_text("## Verdict: improved\n\n![ROC](roc.png)\n![gone](missing.png)\n", encoding="utf-8")
    return path


def test_records_the_comment_and_its_images(tmp_path: Path, report: Path) -> None:
    code, calls = cml(tmp_path, "comment", "update", "--target=pr", "report.md", REPO_TOKEN="t")
    assert code == 0
    assert calls[-1]["argv"] == ["comment", "update", "--target=pr", "report.md"]
    assert calls[-1]["report"] == report.read_text()
    assert calls[-1]["images"] == {"roc.png": True, "missing.png": False}
    assert calls[-1]["token"] == "REPO_TOKEN"


@pytest.mark.parametrize(
    ("env", "args", "error"),
    [
        ({}, [], "GITHUB_TOKEN or REPO_TOKEN not found"),
        ({"REPO_TOKEN": "t", "CML_STANDIN_DENY": "1"}, ["--no-publish"], "Resource not accessible by integration"),
        ({"REPO_TOKEN": "t", "CML_STANDIN_DENY": "publish"}, [], "Failed to upload images"),
    ],
)
def test_fails_like_cml(tmp_path: Path, report: Path, env: dict[str, str], args: list[str], error: str) -> None:
    code, calls = cml(tmp_path, "comment", "update", *args, "report.md", **env)
    assert code == 1
    assert error in str(calls[-1]["error"])


def test_never_calls_a_github_api_that_is_not_on_this_machine(tmp_path: Path, report: Path) -> None:
    code, calls = cml(
        tmp_path,
        "comment",
        "update",
        "--target=pr/1",
        "report.md",
        GITHUB_TOKEN="t",
        GITHUB_API_URL="https://api.github.com",
    )
    assert code == 0 and "posted" not in calls[-1]


def test_without_image_upload_a_publish_failure_does_not_apply(tmp_path: Path, report: Path) -> None:
    code, _ = cml(
        tmp_path, "comment", "update", "--no-publish", "report.md", REPO_TOKEN="t", CML_STANDIN_DENY="publish"
    )
    assert code == 0


def test_set_param_changes_one_nested_key_and_keeps_comments(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text("seed: 1  # s\nmodel:\n  linear:\n    C: 1.0  # c\n  rf:\n    C: 2\n")
    set_param(tmp_path, "model.linear.C", "1e-6")
    assert (
        tmp_path / "params.yaml"
    ).read_text() == "seed: 1  # s\nmodel:\n  linear:\n    C: 1e-6  # c\n  rf:\n    C: 2\n"
    with pytest.raises(KeyError, match=r"model\.linear\.D"):
        set_param(tmp_path, "model.linear.D", "1")


KUBECTL = Path(__file__).resolve().parents[2] / ".ci/emulation/kube/kubectl"


def kubectl(tmp_path: Path, *args: str, **env: str) -> tuple[int, list[dict[str, object]]]:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\nclusters: []\n")
    base = {k: v for k, v in os.environ.items() if not k.startswith("KUBECTL_STANDIN")}
    base |= {"KUBECONFIG": str(kubeconfig), "ACT_RECORD_DIR": str(tmp_path), **env}
    result = subprocess.run([sys.executable, str(KUBECTL), *args], cwd=tmp_path, env=base, check=False)
    path = tmp_path / "kubectl.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return result.returncode, [json.loads(line) for line in lines]


def test_kubectl_records_the_applied_images_and_the_probe(tmp_path: Path) -> None:
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "deployment.yaml").write_text("kind: Deployment\nspec:\n  containers:\n    - image: r/x@sha256:ab\n")
    probe = f"{sys.executable} -c 'print(42)'"
    code, calls = kubectl(tmp_path, "apply", "-f", str(manifests), "--dry-run=client", KUBECTL_STANDIN_PROBE=probe)
    assert code == 0
    assert calls[-1]["images"] == ["r/x@sha256:ab"] and calls[-1]["dry_run"] is True and calls[-1]["probe"] == "42"
    code, calls = kubectl(tmp_path, "rollout", "status", "deployment/x", KUBECTL_STANDIN_FAIL="rollout")
    assert code == 1 and calls[-1]["argv"] == ["rollout", "status", "deployment/x"]
    assert kubectl(tmp_path, "delete", "deployment/x")[0] == 1  # not what `make deploy` runs
    assert kubectl(tmp_path, "rollout", "status", "deployment/x", KUBECONFIG=str(tmp_path / "none"))[0] == 1
