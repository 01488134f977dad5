"""Production's desired state in Git: the kustomize overlay the release writes, rendered and validated offline,
and published to a deploy branch of a real (local, bare) git remote, where rollback is a revert."""

from __future__ import annotations

import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from mlops_template.core import lineage
from mlops_template.ops.release import gitops
from mlops_template.ops.release.plan import ReleaseError
from tests.support import REPO_ROOT

DIGEST = "sha256:" + "ab" * 32
IMAGE = f"ghcr.io/octo/ml-template@{DIGEST}"


def _rendered(folder: Path) -> dict[str, dict]:
    return {doc["kind"]: doc for doc in gitops.render(folder)}


@pytest.mark.parametrize("version", ["1.30", kubernetes_validate.latest_version()])
def test_committed_overlay_and_argocd_app_render_and_validate(version: str) -> None:
    docs = _rendered(REPO_ROOT / gitops.OVERLAY_DIR)
    assert set(docs) == {"Deployment", "Service", "HorizontalPodAutoscaler"}
    for doc in docs.values():
        kubernetes_validate.validate(doc, version, strict=True)
    app = yaml.safe_load((REPO_ROOT / "k8s/argocd/application.yaml").read_text())
    assert app["kind"] == "Application"
    assert (app["spec"]["source"]["path"], app["spec"]["source"]["targetRevision"]) == (
        str(gitops.OVERLAY_DIR),
        gitops.DEFAULT_BRANCH,
    )


def test_overlay_pins_the_digest_and_the_model_version(tmp_path: Path) -> None:
    overlay = tmp_path / "k8s/overlays/production"
    overlay.mkdir(parents=True)
    for name in ("deployment.yaml", "service.yaml", "hpa.yaml", "kustomization.yaml"):
        (tmp_path / "k8s" / name).write_text((REPO_ROOT / "k8s" / name).read_text())
    (overlay / "kustomization.yaml").write_text(gitops.overlay_text(IMAGE, "7", "a" * 40))
    docs = _rendered(overlay)
    deployment = docs["Deployment"]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE
    assert deployment["spec"]["template"]["metadata"]["annotations"]["mlops-template.dev/model-version"] == "7"
    kubernetes_validate.validate(deployment, "1.30", strict=True)


def test_a_tag_is_not_a_desired_state() -> None:
    with pytest.raises(ReleaseError, match="not pinned by digest"):
        gitops.overlay("ghcr.io/octo/ml-template:latest", "1", "abc")


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


def test_publish_to_the_deploy_branch_and_roll_back_by_revert(tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    _git(tmp_path, "init", "-q", "--bare", str(remote))
    first = gitops.publish(REPO_ROOT, IMAGE, "1", "a" * 40, str(remote))
    second_image = IMAGE.replace(DIGEST, "sha256:" + "cd" * 32)
    second = gitops.publish(REPO_ROOT, second_image, "2", "b" * 40, str(remote))
    assert first and second and first != second
    assert gitops.publish(REPO_ROOT, second_image, "2", "b" * 40, str(remote)) is None  # re-run: nothing new

    log = _git(remote, "log", "--format=%s", gitops.DEFAULT_BRANCH).splitlines()
    assert log == [
        f"release: model 2, sha256:cdcdcdcdcdcd (from {'b' * 12}) [skip ci]",
        f"release: model 1, sha256:abababababab (from {'a' * 12}) [skip ci]",
    ]
    pinned = yaml.safe_load(_git(remote, "show", f"{gitops.DEFAULT_BRANCH}:k8s/overlays/production/kustomization.yaml"))
    assert pinned["images"][0]["digest"] == "sha256:" + "cd" * 32

    # rollback = revert the release commit on the deploy branch: the overlay pins the first image again
    clone = tmp_path / "clone"
    _git(tmp_path, "clone", "-q", "-b", gitops.DEFAULT_BRANCH, str(remote), str(clone))
    env_args = ["-c", "user.name=t", "-c", "user.email=t@x"]
    _git(clone, *env_args, "revert", "--no-edit", "HEAD")
    assert (
        yaml.safe_load((clone / gitops.OVERLAY_DIR / "kustomization.yaml").read_text())["images"][0]["digest"] == DIGEST
    )


def test_the_token_reaches_git_through_its_environment_never_its_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process on the runner can read any command line (ps, /proc): the publish's token goes to git
    as GIT_CONFIG_COUNT/KEY/VALUE (http.<host>.extraheader), never as an argument, a URL or .git/config."""
    import base64

    token = "ghs_secretTOKEN123"
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    seen: list[tuple[list[str], dict[str, str]]] = []
    real_run = subprocess.run

    def recording_run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        seen.append((list(cmd), dict(kwargs.get("env") or {})))  # type: ignore[call-overload]
        return real_run(cmd, **kwargs)  # type: ignore[call-overload,no-any-return]

    monkeypatch.setattr(lineage.subprocess, "run", recording_run)  # the one git helper (core.lineage)
    monkeypatch.setenv("GIT_TERMINAL_PROMPT", "0")
    remote = "https://127.0.0.1:9/octo/ml-template.git"  # nothing listens: fetch and push fail at once
    with pytest.raises(ReleaseError, match=r"git push -q .* failed \(128\)") as failed:
        gitops.publish(REPO_ROOT, IMAGE, "1", "a" * 40, remote, token=token)
    assert token not in str(failed.value) and basic not in str(failed.value)
    network = [(cmd, env) for cmd, env in seen if cmd[1] in ("fetch", "push")]
    assert [cmd[1] for cmd, _ in network] == ["fetch", "push"]
    for cmd, _ in seen:
        assert not any(token in arg or basic in arg for arg in cmd), cmd
    for _, env in network:
        assert env["GIT_CONFIG_COUNT"] == "1"
        assert env["GIT_CONFIG_KEY_0"] == "http.https://127.0.0.1:9/.extraheader"
        assert env["GIT_CONFIG_VALUE_0"] == f"AUTHORIZATION: basic {basic}"
    # local commands (init, commit, ...) get no credential at all
    assert all("GIT_CONFIG_VALUE_0" not in env for cmd, env in seen if cmd[1] not in ("fetch", "push"))
