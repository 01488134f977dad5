"""The real container (opt-in: `pytest -m container`, `make test-container`): build the OCI image from the built
bento with the same Make targets CI uses, run it on 127.0.0.1, and smoke-test it (non-root, /readyz, predictions
equal to the in-process model's). Needs podman (installed by `make container-tools`) or a Docker engine.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest
import yaml

from tests.support import REPO_ROOT, env_with_venv, run

pytestmark = [pytest.mark.container, pytest.mark.slow]


@pytest.fixture(scope="module")
def container_repo(trained_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("container") / "repo"
    shutil.copytree(trained_repo, repo, symlinks=True)
    return repo


def make(repo: Path, *targets: str, timeout: float = 1200) -> tuple[str, float]:
    # The base image and podman's layer cache are shared with the working copy (.cache/container), so only
    # the first run on a machine pays for debootstrap and the dependency layer.
    env = env_with_venv(
        {
            "CONTAINER_CACHE": os.environ.get("CONTAINER_CACHE", str(REPO_ROOT / ".cache/container")),
            "BENTOML_HOME": str(repo / ".bentoml"),  # the copy's own model store, even when run from `make`
        }
    )
    start = time.monotonic()
    result = run(["make", *targets], cwd=repo, env=env, timeout=timeout)
    return result.stdout + result.stderr, time.monotonic() - start


def test_built_image_serves_the_model_as_non_root(container_repo: Path) -> None:
    # as `make release-register` records a registered MLflow version before the workflow builds the bento
    record = container_repo / ".cache/release/release.json"
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({"name": "mlops-template-model", "version": "3"}))
    out, bento_s = make(container_repo, "bento")
    tag = (container_repo / "build/bento/tag.txt").read_text().strip()
    out, build_s = make(container_repo, "container")
    assert f"from {tag}" in out
    out, smoke_s = make(container_repo, "smoke-container")
    print(f"\ncontainer timings: bento {bento_s:.0f} s, image build {build_s:.0f} s, run + smoke {smoke_s:.0f} s")

    assert "smoke: ok" in out, out
    assert re.search(r'"rows": 20', out)
    assert '"mlflow_model_version": "3"' in out  # the served model carries its registry version
    uid = int(re.search(r"runs as uid (\d+)", out).group(1))  # type: ignore[union-attr]
    assert uid != 0
    # the Kubernetes Deployment runs the pod as the image's own user
    deployment = yaml.safe_load((container_repo / "k8s/deployment.yaml").read_text())
    assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == uid
    # the container was stopped and removed
    assert "passed in" in out


def test_push_tags_the_image_with_the_sha_and_model_version(container_repo: Path, tmp_path: Path) -> None:
    """`make image-push` against a real registry on 127.0.0.1 (stand-in for GHCR): which references land."""
    import urllib.request

    from tests.support import free_port, server

    run(["bash", ".ci/emulation/registry/local-registry.sh", "install"], cwd=container_repo)
    if not (container_repo / "build/bento/tag.txt").exists():
        make(container_repo, "bento", "container")
    release_dir = container_repo / ".cache/release"
    release_dir.mkdir(parents=True, exist_ok=True)
    (release_dir / "release.json").write_text(json.dumps({"name": "mlops-template-model", "version": "3"}))
    port = free_port()
    registry = f"127.0.0.1:{port}"
    cmd = ["bash", ".ci/emulation/registry/local-registry.sh", "serve", str(port), str(tmp_path / "registry")]
    with server(cmd, f"http://{registry}/v2/", cwd=container_repo, log_path=tmp_path / "registry.log", timeout=30):
        env_extra = {
            "IMAGE_REGISTRY": registry,
            "GITHUB_REPOSITORY": "Octo-Org/ML-Template",
            "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567",
            "PUSH_TLS_VERIFY": "false",
        }
        env = env_with_venv(
            {
                **env_extra,
                "CONTAINER_CACHE": str(REPO_ROOT / ".cache/container"),
                "BENTOML_HOME": str(container_repo / ".bentoml"),
            }
        )
        result = run(["make", "image-push"], cwd=container_repo, env=env, timeout=900)
        with urllib.request.urlopen(f"http://{registry}/v2/octo-org/ml-template/tags/list") as response:
            tags = json.loads(response.read())["tags"]
    assert sorted(tags) == sorted([env_extra["GITHUB_SHA"], "model-3"]), result.stdout
    image = (release_dir / "image").read_text().strip()
    assert image == f"{registry}/octo-org/ml-template:{env_extra['GITHUB_SHA']}"
