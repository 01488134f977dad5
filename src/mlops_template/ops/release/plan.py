"""Pure release decisions: image references, the deploy target, rendered Kubernetes manifests."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

DeployTarget = Literal["kubernetes", "bentocloud", "none"]
DEPLOY_TARGETS: tuple[DeployTarget, ...] = ("kubernetes", "bentocloud", "none")
IMAGE_PLACEHOLDER = "IMAGE_PLACEHOLDER"
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


class ReleaseError(ValueError):
    """A release input (variable, version, file) is missing or invalid; the message names it."""


def model_version_tag(version: str | int) -> str:
    """The image tag that identifies a registered model version: ``model-<N>`` (rollback redeploys it)."""
    text = str(version).strip()
    if not text.isdigit() or int(text) < 1:
        raise ReleaseError(f"model version must be a positive integer, got {version!r}")
    return f"model-{int(text)}"


def image_repository(registry: str, repository: str) -> str:
    """``ghcr.io/owner/name`` (lower-cased: GHCR and Docker reject upper-case repository names)."""
    registry = registry.strip().rstrip("/")
    repository = repository.strip().strip("/")
    if not registry or not repository:
        raise ReleaseError("IMAGE_REGISTRY and the repository name (GITHUB_REPOSITORY) must be set")
    return f"{registry}/{repository}".lower()


def image_refs(repo: str, git_sha: str, model_version: str | int | None = None) -> list[str]:
    """Every reference an image is pushed under: the git SHA, plus ``model-<N>`` when the model is registered."""
    sha = git_sha.strip()
    if not _TAG.match(sha) or sha in {"unknown"} or sha.endswith("-dirty"):
        raise ReleaseError(f"git SHA {git_sha!r} cannot tag a release image (commit your changes first)")
    refs = [f"{repo}:{sha}"]
    if model_version not in (None, ""):
        refs.append(f"{repo}:{model_version_tag(model_version)}")
    return refs


def choose_deploy_target(env: Mapping[str, str]) -> DeployTarget:
    """The deploy target from the repository's variables/secrets (passed as environment variables).

    ``DEPLOY_TARGET`` (kubernetes | bentocloud | none) wins when set; otherwise the first configured
    credential decides: ``KUBE_CONFIG`` -> kubernetes, ``BENTOCLOUD_API_TOKEN`` -> bentocloud; else none.
    """
    explicit = env.get("DEPLOY_TARGET", "").strip().lower()
    if explicit:
        if explicit not in DEPLOY_TARGETS:
            raise ReleaseError(f"DEPLOY_TARGET={explicit!r}: expected one of {', '.join(DEPLOY_TARGETS)}")
        target: DeployTarget = explicit
    elif env.get("KUBE_CONFIG", "").strip():
        target = "kubernetes"
    elif env.get("BENTOCLOUD_API_TOKEN", "").strip():
        target = "bentocloud"
    else:
        target = "none"
    needs = {"kubernetes": "KUBE_CONFIG", "bentocloud": "BENTOCLOUD_API_TOKEN"}.get(target)
    if needs and not env.get(needs, "").strip():
        raise ReleaseError(f"DEPLOY_TARGET={target} needs the secret {needs}")
    return target


def render_manifest(text: str, image: str) -> str:
    """Put the image reference into a manifest; a manifest without the placeholder is returned unchanged."""
    if not image or any(c.isspace() for c in image) or ":" not in image.rsplit("/", 1)[-1]:
        raise ReleaseError(f"image reference {image!r} must be REPOSITORY:TAG")
    return text.replace(IMAGE_PLACEHOLDER, image)


@dataclass(frozen=True)
class KubeCommands:
    """The kubectl calls that deploy rendered manifests (``--dry-run=client`` validates without a cluster)."""

    manifests_dir: str
    namespace: str
    deployment: str
    timeout: str = "300s"

    def apply(self, dry_run: bool = False) -> list[str]:
        cmd = ["kubectl", "apply", "--namespace", self.namespace, "-f", self.manifests_dir]
        return [*cmd, "--dry-run=client", "--validate=false"] if dry_run else cmd

    def wait(self) -> list[str]:
        return [
            "kubectl",
            "rollout",
            "status",
            f"deployment/{self.deployment}",
            "--namespace",
            self.namespace,
            f"--timeout={self.timeout}",
        ]
