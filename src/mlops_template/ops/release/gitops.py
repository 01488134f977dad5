"""Production's desired state in Git: the kustomize overlay ``k8s/overlays/production`` on the deploy branch.

The release writes the pushed image **by digest** and the model version into
``k8s/overlays/production/kustomization.yaml`` and commits it, with the manifests of the released commit, to the
deploy branch (``deploy/production`` by default). A GitOps controller (Argo CD: ``k8s/argocd/application.yaml``;
Flux works the same way) syncs that folder. No workflow listens to the deploy branch, and a push made with the
workflow's ``GITHUB_TOKEN`` starts no workflow anyway, so there is no loop. Rollback = ``git revert`` of the
release commit on the deploy branch (or ``make rollback``, which writes the previous version's image).

:func:`render` is a small kustomize renderer (resources, ``images``, ``commonAnnotations``, ``namespace``): enough
for these manifests, used by the tests to validate the overlay offline (no kustomize or kubectl binary here).
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml

from mlops_template.core.lineage import git, git_run
from mlops_template.ops.release.plan import IMAGE_PLACEHOLDER, ReleaseError

K8S_DIR = Path("k8s")
OVERLAY_DIR = K8S_DIR / "overlays" / "production"
DEFAULT_BRANCH = "deploy/production"
_DIGEST_REF = re.compile(r"^(?P<repo>[^@\s]+)@(?P<digest>sha256:[0-9a-f]{64})$")
ANNOTATION = "mlops-template.dev"

HEADER = """\
# Production's desired state, written by the release workflow (make gitops-publish) on the deploy branch.
# A GitOps controller syncs this folder (k8s/argocd/application.yaml). Do not edit on main: the release
# overwrites it. Rollback = `git revert` of the release commit on the deploy branch (or `make rollback`).
"""


def split_digest_ref(image: str) -> tuple[str, str]:
    """``REPO@sha256:...`` -> (REPO, digest); anything else (a tag) is refused: production pins digests."""
    match = _DIGEST_REF.match(image.strip())
    if not match:
        raise ReleaseError(f"image {image!r} is not pinned by digest (expected REPO@sha256:<64 hex>)")
    return match["repo"], match["digest"]


def overlay(image: str, model_version: str | None, git_sha: str) -> dict[str, Any]:
    """The production overlay: the base manifests with the released image (by digest) and its lineage."""
    repo, digest = split_digest_ref(image)
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": ["../.."],
        "images": [{"name": IMAGE_PLACEHOLDER, "newName": repo, "digest": digest}],
        "commonAnnotations": {
            f"{ANNOTATION}/git-sha": git_sha,
            f"{ANNOTATION}/model-version": str(model_version or "unregistered"),
        },
    }


def overlay_text(image: str, model_version: str | None, git_sha: str) -> str:
    return HEADER + yaml.safe_dump(overlay(image, model_version, git_sha), sort_keys=False)


# ---------------------------------------------------------------------------------------------- rendering
def _load_kustomization(folder: Path) -> dict[str, Any]:
    path = folder / "kustomization.yaml"
    if not path.is_file():
        raise ReleaseError(f"{folder}: no kustomization.yaml")
    doc: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    unknown = set(doc) - {"apiVersion", "kind", "resources", "images", "commonAnnotations", "namespace"}
    if unknown:
        raise ReleaseError(f"{path}: this renderer does not handle {sorted(unknown)} (use kustomize itself)")
    return doc


def _set_image(container: dict[str, Any], images: list[dict[str, str]]) -> None:
    current = str(container.get("image", ""))
    name = current.split("@")[0].rsplit(":", 1)[0] if "/" in current or ":" in current else current
    for rule in images:
        if rule["name"] == name:
            new = rule.get("newName", name)
            if rule.get("digest"):
                container["image"] = f"{new}@{rule['digest']}"
            else:
                container["image"] = f"{new}:{rule['newTag']}" if rule.get("newTag") else new


def render(folder: Path) -> list[dict[str, Any]]:
    """The objects ``kustomize build folder`` would produce, for the features these manifests use."""
    kust = _load_kustomization(folder)
    objects: list[dict[str, Any]] = []
    for entry in kust.get("resources") or []:
        path = (folder / entry).resolve()
        if path.is_dir():
            objects += render(path)
        else:
            objects += [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    annotations = kust.get("commonAnnotations") or {}
    for obj in objects:
        if annotations:
            obj.setdefault("metadata", {}).setdefault("annotations", {}).update(annotations)
            template = obj.get("spec", {}).get("template")
            if isinstance(template, dict):
                template.setdefault("metadata", {}).setdefault("annotations", {}).update(annotations)
        if kust.get("namespace"):
            obj.setdefault("metadata", {})["namespace"] = kust["namespace"]
        template = obj.get("spec", {}).get("template")
        if isinstance(template, dict):
            for container in template.get("spec", {}).get("containers", []):
                _set_image(container, kust.get("images") or [])
    return objects


# ---------------------------------------------------------------------------------------------- publishing
def _env(auth: dict[str, str] | None = None) -> dict[str, str]:
    """git's environment for the release's commits: its committer, and the remote's credentials (``auth``)."""
    return {
        **os.environ,
        **(auth or {}),
        "GIT_AUTHOR_NAME": os.environ.get("GIT_AUTHOR_NAME", "mlops-template release"),
        "GIT_AUTHOR_EMAIL": os.environ.get("GIT_AUTHOR_EMAIL", "release@users.noreply.github.com"),
        "GIT_COMMITTER_NAME": os.environ.get("GIT_COMMITTER_NAME", "mlops-template release"),
        "GIT_COMMITTER_EMAIL": os.environ.get("GIT_COMMITTER_EMAIL", "release@users.noreply.github.com"),
    }


def _git(cwd: Path, *args: str, auth: dict[str, str] | None = None) -> str:
    """``git args`` in ``cwd`` as the release's committer; its output, or a ReleaseError with git's message."""
    return git(*args, cwd=cwd, env=_env(auth), error=ReleaseError)


def auth_env(remote: str, token: str | None) -> dict[str, str]:
    """Credentials for an https remote as actions/checkout passes them: a header, given to git through its
    environment configuration (GIT_CONFIG_COUNT/KEY/VALUE), never on its command line (visible to every
    process on the machine), in the URL or in .git/config."""
    if not token or not remote.startswith("https://"):
        return {}
    host = remote.split("/")[2]
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    return {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": f"http.https://{host}/.extraheader",
        "GIT_CONFIG_VALUE_0": f"AUTHORIZATION: basic {basic}",
    }


def publish(
    root: Path,
    image: str,
    model_version: str | None,
    git_sha: str,
    remote: str,
    branch: str = DEFAULT_BRANCH,
    token: str | None = None,
) -> str | None:
    """Commit the released manifests + overlay to ``branch`` of ``remote``; return the commit (None: unchanged)."""
    text = overlay_text(image, model_version, git_sha)
    auth = auth_env(remote, token)
    with tempfile.TemporaryDirectory(prefix="gitops-") as tmp:
        work = Path(tmp) / "deploy"
        _git(Path(tmp), "init", "-q", str(work))
        fetched = git_run("fetch", "-q", "--depth=1", remote, f"refs/heads/{branch}", cwd=work, env=_env(auth))
        if fetched.returncode == 0:
            _git(work, "checkout", "-q", "FETCH_HEAD")
        else:
            _git(work, "checkout", "-q", "--orphan", "deploy")
        # the manifests of the released commit, with the overlay that pins the image
        shutil.rmtree(work / K8S_DIR, ignore_errors=True)
        shutil.copytree(root / K8S_DIR, work / K8S_DIR)
        (work / OVERLAY_DIR).mkdir(parents=True, exist_ok=True)
        (work / OVERLAY_DIR / "kustomization.yaml").write_text(text, encoding="utf-8")
        _git(work, "add", "-A", str(K8S_DIR))
        if not _git(work, "status", "--porcelain").strip():
            return None
        version = f"model {model_version}" if model_version else "unregistered model"
        message = f"release: {version}, {image.rsplit('@', 1)[1][:19]} (from {git_sha[:12]}) [skip ci]"
        _git(work, "commit", "-q", "-m", message)
        _git(work, "push", "-q", remote, f"HEAD:refs/heads/{branch}", auth=auth)
        return _git(work, "rev-parse", "HEAD").strip()
