"""Pure release decisions: image references, deploy target selection, manifest rendering, kubeconfig."""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path

import pytest

from mlops_template.ops.release.containerfile import keep_command, rebase
from mlops_template.ops.release.deploy import deploy, kubeconfig_text, render_dir
from mlops_template.ops.release.plan import (
    IMAGE_PLACEHOLDER,
    KubeCommands,
    ReleaseError,
    choose_deploy_target,
    image_refs,
    image_repository,
    model_version_tag,
    render_manifest,
)
from tests.support import REPO_ROOT, free_port

SHA = "0123456789abcdef0123456789abcdef01234567"


def test_image_refs_carry_the_sha_and_the_model_version() -> None:
    repo = image_repository("ghcr.io", "Octo-Org/My-Model")
    assert repo == "ghcr.io/octo-org/my-model"
    assert image_refs(repo, SHA, "7") == [f"{repo}:{SHA}", f"{repo}:model-7"]
    assert image_refs(repo, SHA, None) == [f"{repo}:{SHA}"]
    assert image_refs(repo, SHA, "") == [f"{repo}:{SHA}"]


@pytest.mark.parametrize("sha", ["", "unknown", f"{SHA}-dirty", "has space"])
def test_image_refs_refuse_a_sha_that_does_not_identify_a_commit(sha: str) -> None:
    with pytest.raises(ReleaseError, match="git SHA"):
        image_refs("ghcr.io/o/r", sha)


@pytest.mark.parametrize("bad", ["0", "-1", "latest", "1.5", ""])
def test_model_version_must_be_a_positive_integer(bad: str) -> None:
    with pytest.raises(ReleaseError, match="positive integer"):
        model_version_tag(bad)
    assert model_version_tag(" 12 ") == "model-12"


def test_image_repository_needs_both_parts() -> None:
    with pytest.raises(ReleaseError, match="GITHUB_REPOSITORY"):
        image_repository("ghcr.io", "")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "none"),
        ({"KUBE_CONFIG": "x"}, "kubernetes"),
        ({"BENTOCLOUD_API_TOKEN": "t"}, "bentocloud"),
        ({"KUBE_CONFIG": "x", "BENTOCLOUD_API_TOKEN": "t"}, "kubernetes"),
        ({"DEPLOY_TARGET": "bentocloud", "KUBE_CONFIG": "x", "BENTOCLOUD_API_TOKEN": "t"}, "bentocloud"),
        ({"DEPLOY_TARGET": "NONE", "KUBE_CONFIG": "x"}, "none"),
        ({"KUBE_CONFIG": "  ", "DEPLOY_TARGET": ""}, "none"),  # unset secrets arrive as empty strings
    ],
)
def test_deploy_target_follows_variables_and_secrets(env: dict[str, str], expected: str) -> None:
    assert choose_deploy_target(env) == expected


def test_deploy_target_errors_name_the_missing_setting() -> None:
    with pytest.raises(ReleaseError, match="DEPLOY_TARGET='heroku'"):
        choose_deploy_target({"DEPLOY_TARGET": "heroku"})
    with pytest.raises(ReleaseError, match="needs the secret KUBE_CONFIG"):
        choose_deploy_target({"DEPLOY_TARGET": "kubernetes"})
    with pytest.raises(ReleaseError, match="needs the secret BENTOCLOUD_API_TOKEN"):
        choose_deploy_target({"DEPLOY_TARGET": "bentocloud"})


def test_render_fills_the_image_and_rejects_untagged_references(tmp_path: Path) -> None:
    assert render_manifest(f"image: {IMAGE_PLACEHOLDER}\n", "ghcr.io/o/r:abc") == "image: ghcr.io/o/r:abc\n"
    for bad in ["", "ghcr.io/o/r", "localhost:5000/o/r", "a b:c"]:
        with pytest.raises(ReleaseError, match="REPOSITORY:TAG"):
            render_manifest("x", bad)
    written = render_dir("ghcr.io/o/r:abc", tmp_path, REPO_ROOT / "k8s")
    assert {p.name for p in written} == {p.name for p in (REPO_ROOT / "k8s").glob("*.yaml")} - {"kustomization.yaml"}
    text = "".join(p.read_text() for p in written)
    assert IMAGE_PLACEHOLDER not in text
    assert "image: ghcr.io/o/r:abc" in text
    with pytest.raises(ReleaseError, match=r"no \*\.yaml"):
        render_dir("ghcr.io/o/r:abc", tmp_path / "out", tmp_path / "empty")


def test_kubectl_commands_validate_before_applying() -> None:
    kube = KubeCommands("/m", "prod", "mlops-template")
    assert kube.apply(dry_run=True) == [
        "kubectl", "apply", "--namespace", "prod", "-f", "/m", "--dry-run=client", "--validate=false"
    ]  # fmt: skip
    assert "--dry-run=client" not in kube.apply()
    assert kube.wait()[:4] == ["kubectl", "rollout", "status", "deployment/mlops-template"]


def test_kubeconfig_secret_may_be_plain_or_base64() -> None:
    plain = "apiVersion: v1\nkind: Config\n"
    assert kubeconfig_text(plain) == plain
    assert kubeconfig_text(base64.b64encode(plain.encode()).decode()) == plain
    with pytest.raises(ReleaseError, match="KUBE_CONFIG"):
        kubeconfig_text("not base64 !!")


def test_deploy_without_a_target_skips_cleanly(capsys: pytest.CaptureFixture[str]) -> None:
    assert deploy("ghcr.io/o/r:abc", "", {}) == "none"
    assert "deploy: skipped" in capsys.readouterr().out


def test_containerfile_keeps_only_the_bentos_own_commands() -> None:
    assert not keep_command("apt-get update && apt-get install -y build-essential")
    assert keep_command("mkdir -p /data && chown bentoml /data")


def test_containerfile_rebases_bentomls_dockerfile_and_fails_loudly_when_its_template_changes() -> None:
    generated = (
        "# Block SETUP_BENTO_BASE_IMAGE\nFROM python:3.11-slim AS base-container\nENV LANG=C.UTF-8\n"
        "RUN apt-get update && apt-get install -y git\nRUN command -v uv >/dev/null || pip install uv\n"
    )
    text, dropped = rebase(generated, "localhost/base:py311")
    assert "FROM localhost/base:py311 AS base-container\n" in text
    assert "python:3.11-slim" not in text and "apt-get" not in text
    assert "RUN command -v uv >/dev/null || pip install uv" in text
    assert dropped == ["apt-get update && apt-get install -y git"]
    with pytest.raises(SystemExit, match="found 0; BentoML changed its template"):
        rebase("FROM python:3.11-slim\n", "localhost/base:py311")


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="needs kubectl")
def test_kubernetes_deploy_validates_first_and_reports_an_unreachable_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    """The kubernetes path runs for real up to the cluster: rendered manifests, kubeconfig from the secret,
    `kubectl apply --dry-run=client` first; an unreachable API server is a clear error, nothing is applied."""
    kubeconfig = f"""apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "http://127.0.0.1:{free_port()}"}}}}]
users: [{{name: u, user: {{token: t}}}}]
contexts: [{{name: x, context: {{cluster: c, user: u}}}}]
current-context: x
"""
    env = {
        "KUBE_CONFIG": base64.b64encode(kubeconfig.encode()).decode(),
        "K8S_NAMESPACE": "ml",
        "PATH": os.environ["PATH"],
    }
    monkeypatch.chdir(REPO_ROOT)
    with pytest.raises(ReleaseError, match=r"`kubectl apply --namespace \.\.\.` failed"):
        deploy("ghcr.io/o/r:abc", "", env)
