"""Deploy an image (Kubernetes) or a bento (BentoCloud) to the target chosen by the repository's settings."""

from __future__ import annotations

import base64
import binascii
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

import yaml

from mlops_template.ops.release.plan import KubeCommands, ReleaseError, choose_deploy_target, render_manifest

K8S_DIR = Path("k8s")


def deployment_name(source: Path = K8S_DIR) -> str:
    """The Deployment's name, as k8s/deployment.yaml says (`make init` renames it with the project)."""
    doc = yaml.safe_load((source / "deployment.yaml").read_text(encoding="utf-8"))
    return str(doc["metadata"]["name"])


def render_dir(image: str, out: Path, source: Path = K8S_DIR) -> list[Path]:
    """Render every manifest of ``source`` into ``out`` with the image filled in."""
    manifests = sorted(p for p in source.glob("*.yaml") if p.name != "kustomization.yaml")
    if not manifests:
        raise ReleaseError(f"{source}: no *.yaml manifests to deploy")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in manifests:
        target = out / path.name
        target.write_text(render_manifest(path.read_text(encoding="utf-8"), image), encoding="utf-8")
        written.append(target)
    return written


def kubeconfig_text(secret: str) -> str:
    """KUBE_CONFIG may hold the kubeconfig itself or its base64 encoding (either is common in CI settings)."""
    secret = secret.strip()
    if secret.startswith(("apiVersion", "{", "clusters", "kind")):
        return secret + "\n"
    try:
        return base64.b64decode(secret, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise ReleaseError("KUBE_CONFIG is neither a kubeconfig YAML nor its base64 encoding") from None


def _run(cmd: list[str], env: Mapping[str, str] | None = None) -> None:
    if shutil.which(cmd[0]) is None:
        raise ReleaseError(f"{cmd[0]} is not installed (needed to deploy)")
    print("+", " ".join(cmd), flush=True)
    result = subprocess.run(cmd, check=False, env=dict(env) if env is not None else None)
    if result.returncode != 0:
        raise ReleaseError(f"`{' '.join(cmd[:3])} ...` failed with exit code {result.returncode} (output above)")


def deploy(
    image: str, bento_tag: str, env: Mapping[str, str], dry_run: bool = False, bento_archive: Path | None = None
) -> str:
    """Deploy to the configured target; return the target name (``none`` = skipped, with a message)."""
    target = choose_deploy_target(env)
    if target == "none":
        print("deploy: skipped (no DEPLOY_TARGET, KUBE_CONFIG or BENTOCLOUD_API_TOKEN configured); see docs/release.md")
        return target
    if target == "kubernetes":
        with tempfile.TemporaryDirectory() as tmp:
            kubeconfig = Path(tmp) / "kubeconfig"
            kubeconfig.write_text(kubeconfig_text(env["KUBE_CONFIG"]), encoding="utf-8")
            kubeconfig.chmod(0o600)
            rendered = Path(tmp) / "manifests"
            render_dir(image, rendered)
            kube = KubeCommands(str(rendered), env.get("K8S_NAMESPACE") or "default", deployment_name())
            run_env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
            _run(kube.apply(dry_run=True), run_env)
            if not dry_run:
                _run(kube.apply(), run_env)
                _run(kube.wait(), run_env)
        return target
    # BentoCloud deploys the bento itself (it builds its own image)
    if not bento_tag:
        raise ReleaseError("BentoCloud deploy needs the bento tag (run `make bento` first)")
    name = env.get("BENTOCLOUD_DEPLOYMENT") or deployment_name()
    in_store = subprocess.run(["bentoml", "get", bento_tag], capture_output=True, check=False).returncode == 0
    if not in_store and bento_archive is not None and bento_archive.exists():
        _run(["bentoml", "import", str(bento_archive)])  # exported by the build job
    login = ["bentoml", "cloud", "login", "--api-token", env["BENTOCLOUD_API_TOKEN"]]
    if env.get("BENTOCLOUD_ENDPOINT"):
        login += ["--endpoint", env["BENTOCLOUD_ENDPOINT"]]
    if dry_run:
        print(f"deploy (dry run): bentoml deploy {bento_tag} --name {name}")
        return target
    subprocess.run(login, check=True, stdout=subprocess.DEVNULL)  # not echoed: holds the token
    exists = subprocess.run(["bentoml", "deployment", "get", name], capture_output=True, check=False).returncode == 0
    if exists:  # a release or a rollback of an existing deployment
        _run(["bentoml", "deployment", "update", name, "--bento", bento_tag])
    else:
        _run(["bentoml", "deploy", bento_tag, "--name", name])
    return target
