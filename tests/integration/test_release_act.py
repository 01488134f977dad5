"""The release workflow (.github/workflows/release.yml) run for real under act: a merge to main.

A fresh copy of the project (its committed dvc.lock is main's) is released twice, sharing one real `mlflow
server`, one registry on 127.0.0.1 (Debian's docker-registry, in place of GHCR) and one bare git repository
playing the GitHub remote that receives the deploy branch:

1. a normal merge: the outputs are rebuilt and match dvc.lock, the image is built once, smoke-tested (its
   /metadata must name the same output md5s as dvc.lock) and pushed; the deploy job pins the pushed digest in
   k8s/overlays/production on the deploy branch, and only then `champion` moves to the registered version.
2. a merge whose committed dvc.lock pins another model: the build job stops at `make release-materialize`,
   naming the output and both md5s; nothing is pushed, pinned or promoted.

The container build dominates (one build, ~2-3 min cold with the base image cached in .cache/container).
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from emulation.act.harness import ActRun, run_workflow, uv_cache_dir
from mlops_template.lineage import locked_outs
from tests.support import REPO_ROOT, copy_repo, free_port, git, run, server

pytestmark = [pytest.mark.slow, pytest.mark.container, pytest.mark.timeout(3600)]  # two act runs, one image build

WORKFLOW = Path(".github/workflows/release.yml")
REPOSITORY = "acme/mlops-template"
BUILD = "release/materialise, register, build + smoke-test + push the image"
DEPLOY = "release/desired state -> deploy -> promote"
BRANCH = "deploy/production"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("registry")
    run(["bash", ".ci/emulation/registry/local-registry.sh", "install"], cwd=REPO_ROOT)
    port = free_port()
    cmd = ["bash", ".ci/emulation/registry/local-registry.sh", "serve", str(port), str(work / "data")]
    with server(cmd, f"http://127.0.0.1:{port}/v2/", cwd=REPO_ROOT, log_path=work / "log", timeout=60):
        yield f"127.0.0.1:{port}"


@pytest.fixture(scope="module")
def deploy_remote(tmp_path_factory: pytest.TempPathFactory) -> Path:
    remote = tmp_path_factory.mktemp("github") / "deploy.git"
    git(remote.parent, "init", "-q", "--bare", str(remote))
    return remote


def release(repo: Path, work: Path, registry: str, mlflow: str, deploy_remote: Path) -> ActRun:
    event = {"ref": "refs/heads/main", "repository": {"default_branch": "main", "full_name": REPOSITORY}}
    return run_workflow(
        repo,
        event,
        work,
        workflow=WORKFLOW,
        event_name="push",
        uv_cache_dir=uv_cache_dir(),
        variables={"IMAGE_REGISTRY": registry, "MLFLOW_TRACKING_URI": mlflow, "GITOPS_REMOTE": str(deploy_remote)},
        env={
            "GITHUB_REPOSITORY": REPOSITORY,
            "PUSH_TLS_VERIFY": "false",
            "CONTAINER_CACHE": str(REPO_ROOT / ".cache/container"),  # the base image, shared with make container
            "ACT_RELEASE_WORK": str(work),
        },
        timeout=2400,
    )


@pytest.fixture(scope="module")
def merged(
    tmp_path_factory: pytest.TempPathFactory, registry: str, mlflow_server: str, deploy_remote: Path
) -> tuple[Path, ActRun]:
    work = tmp_path_factory.mktemp("merge")
    repo = copy_repo(work / "repo")
    result = release(repo, work / "act", registry, mlflow_server, deploy_remote)
    print(f"\nrelease under act: {result.seconds:.0f} s")
    return repo, result


def test_a_merge_ships_the_pinned_model_and_pins_its_digest(
    merged: tuple[Path, ActRun], registry: str, mlflow_server: str, deploy_remote: Path
) -> None:
    from mlflow.tracking import MlflowClient

    repo, result = merged
    assert result.returncode == 0, result.describe()
    steps = result.steps()
    assert steps[(BUILD, "make release-materialize")] == "Success"
    pins = locked_outs(git(repo, "show", "HEAD:dvc.lock"))
    assert f"materialize: {len(pins)} outputs match the committed dvc.lock (rebuilt by dvc repro)" in result.log

    # the served /metadata named the same md5s (checked inside the smoke step), and says so in its output
    smoke = re.search(r"smoke: ok: (\{.*\})", result.log)
    assert smoke, result.describe()
    assert json.loads(smoke.group(1))["model_md5"] == pins["models/model.joblib"]

    # pushed once, by digest; the deploy job used that digest
    image = re.search(r"push: image=(\S+@sha256:[0-9a-f]{64})", result.log)
    assert image, result.describe()
    ref = image.group(1)
    digest = ref.rsplit("@", 1)[1]
    request = urllib.request.Request(
        f"http://{registry}/v2/{REPOSITORY}/manifests/{digest}",
        method="HEAD",
        headers={
            "Accept": "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200

    # the desired state on the deploy branch pins exactly that digest and the registered version
    overlay = yaml.safe_load(git(deploy_remote, "show", f"{BRANCH}:k8s/overlays/production/kustomization.yaml"))
    assert overlay["images"][0]["newName"] + "@" + overlay["images"][0]["digest"] == ref
    params = yaml.safe_load((repo / "params.yaml").read_text())
    client = MlflowClient(mlflow_server)
    name = params["mlflow"]["registered_model_name"]
    champion = client.get_model_version_by_alias(name, "champion")
    assert overlay["commonAnnotations"]["mlops-template.dev/model-version"] == str(champion.version)
    assert champion.tags["image"] == ref
    assert champion.tags["model_md5"] == pins["models/model.joblib"]

    # champion moved in the last step, after the deploy and the desired state succeeded
    order = [step for (job, step) in steps if job == DEPLOY]
    assert order.index("make release-promote") > order.index("make deploy")
    assert order.index("make release-promote") > order.index("make gitops-publish")
    assert all(steps[(DEPLOY, s)] == "Success" for s in order)


def test_a_stale_lock_fails_the_release_naming_the_output(
    merged: tuple[Path, ActRun], tmp_path: Path, registry: str, mlflow_server: str, deploy_remote: Path
) -> None:
    from mlflow.tracking import MlflowClient

    assert merged[1].returncode == 0, "needs the first release (champion, deploy branch)"
    before = git(deploy_remote, "rev-parse", BRANCH).strip()
    repo = copy_repo(tmp_path / "repo")
    lock = (repo / "dvc.lock").read_text()
    pinned = locked_outs(lock)["models/model.joblib"]
    (repo / "dvc.lock").write_text(lock.replace(pinned, "0" * 32))
    git(repo, "commit", "-qam", "a dvc.lock that pins another model")
    params = yaml.safe_load((repo / "params.yaml").read_text())
    client = MlflowClient(mlflow_server)
    champion_before = client.get_model_version_by_alias(params["mlflow"]["registered_model_name"], "champion").version

    result = release(repo, tmp_path / "act", registry, mlflow_server, deploy_remote)
    print(f"\nstale-lock release under act: {result.seconds:.0f} s")
    assert result.returncode != 0
    assert result.steps()[(BUILD, "make release-materialize")] == "Failure"
    assert f"models/model.joblib: dvc.lock pins {'0' * 32}, materialised {pinned}" in result.log
    assert "commit dvc.lock through a pull request" in result.log
    assert (DEPLOY, "make release-promote") not in result.steps()
    assert git(deploy_remote, "rev-parse", BRANCH).strip() == before
    assert (
        client.get_model_version_by_alias(params["mlflow"]["registered_model_name"], "champion").version
        == champion_before
    )
