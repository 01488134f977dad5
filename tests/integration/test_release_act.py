"""The release workflow (.github/workflows/release.yml) run for real under act: a merge to main.

A fresh copy of the project (its committed dvc.lock is main's) is released three times, sharing one real `mlflow
server`, one registry on 127.0.0.1 (Debian's docker-registry, in place of GHCR) and one bare git repository
playing the GitHub remote that receives the deploy branch:

1. a normal merge: the outputs are rebuilt and match dvc.lock, the image is built once, smoke-tested (its
   /metadata must name the same output md5s as dvc.lock) and pushed; the deploy job deploys the pushed digest
   to Kubernetes (DEPLOY_TARGET=kubernetes: a recording `kubectl` stand-in, .ci/emulation/kube, as there is no
   cluster here), pins it in k8s/overlays/production on the deploy branch, and only then `champion` moves to the
   registered version. That order is checked from what the run recorded, not from the workflow's step order:
   the kubectl stand-in and a post-receive hook on the deploy remote each note where `champion` pointed (asked
   from the real MLflow server) at the moment of the deploy and of the push.
   Before it, the same commit is released once with a rollout that fails (KUBECTL_STANDIN_FAIL=rollout): the
   image is pushed, the deploy step fails, and neither the deploy branch nor `champion` moves.
2. a merge whose committed dvc.lock pins another model: the build job stops at `make release-materialize`,
   naming the output and both md5s; nothing is pushed, deployed, pinned or promoted.

Slow and opt-in (`make test-release-act`, not in .ci/run): three act runs and two image builds; the measured
durations are in docs/release.md.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from emulation.act.harness import ActRun, run_workflow, uv_cache_dir
from mlops_template.core.lineage import locked_outs
from tests.support import REPO_ROOT, copy_repo, free_port, git, run, server

pytestmark = [pytest.mark.slow, pytest.mark.container, pytest.mark.timeout(3600)]  # two act runs, one image build

WORKFLOW = Path(".github/workflows/release.yml")
REPOSITORY = "acme/mlops-template"
BUILD = "release/materialise, register, build + smoke-test + push the image"
DEPLOY = "release/desired state -> deploy -> promote"
BRANCH = "deploy/production"
STALE = "deadbeef" * 4  # a valid md5 that no model here has (all digits would be a YAML integer: an invalid lock)
STALE_PREDICTIONS = "feedface" * 4
STALE_METRICS = "decade00" * 4
KUBECTL = REPO_ROOT / ".ci/emulation/kube"  # the kubectl stand-in (there is no cluster on this machine)
KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: "https://127.0.0.1:6443"}}]
users: [{name: ci, user: {token: dummy}}]
contexts: [{name: test, context: {cluster: test, user: ci}}]
current-context: test
"""
# Prints the version MLflow's `champion` alias points at (or "unset"), when run: by the kubectl stand-in during
# the deploy, and by the deploy remote's post-receive hook when the desired state is pushed.
PROBE = """import json, sys, urllib.parse, urllib.request
uri, name = sys.argv[1], sys.argv[2]
query = urllib.parse.urlencode({"name": name})
with urllib.request.urlopen(f"{uri}/api/2.0/mlflow/registered-models/get?{query}", timeout=30) as response:
    aliases = json.load(response)["registered_model"].get("aliases", [])
print(next((a["version"] for a in aliases if a["alias"] == "champion"), "unset"))
"""


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("registry")
    run(["bash", ".ci/emulation/registry/local-registry.sh", "install"], cwd=REPO_ROOT)
    port = free_port()
    cmd = ["bash", ".ci/emulation/registry/local-registry.sh", "serve", str(port), str(work / "data")]
    with server(cmd, f"http://127.0.0.1:{port}/v2/", cwd=REPO_ROOT, log_path=work / "log", timeout=60):
        yield f"127.0.0.1:{port}"


@pytest.fixture(scope="module")
def model_name() -> str:
    return str(yaml.safe_load((REPO_ROOT / "params.yaml").read_text())["mlflow"]["registered_model_name"])


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory, mlflow_server: str, model_name: str) -> str:
    """A shell command printing where `champion` points right now."""
    script = tmp_path_factory.mktemp("probe") / "champion.py"
    script.write_text(PROBE)
    return f"{sys.executable} {script} {mlflow_server} {model_name}"


@pytest.fixture(scope="module")
def deploy_remote(tmp_path_factory: pytest.TempPathFactory, probe: str) -> Path:
    """The bare repository playing GitHub for the deploy branch; each push notes where `champion` pointed."""
    remote = tmp_path_factory.mktemp("github") / "deploy.git"
    git(remote.parent, "init", "-q", "--bare", str(remote))
    hook = remote / "hooks" / "post-receive"
    hook.write_text(f"#!/bin/sh\n{probe} >> {remote / 'champion-at-push.txt'}\n")
    hook.chmod(0o755)
    return remote


def release(
    repo: Path, work: Path, registry: str, mlflow: str, deploy_remote: Path, probe: str, kubectl_fails: str = ""
) -> ActRun:
    event = {"ref": "refs/heads/main", "repository": {"default_branch": "main", "full_name": REPOSITORY}}
    result = run_workflow(
        repo,
        event,
        work,
        workflow=WORKFLOW,
        event_name="push",
        uv_cache_dir=uv_cache_dir(),
        variables={
            "IMAGE_REGISTRY": registry,
            "MLFLOW_TRACKING_URI": mlflow,
            "GITOPS_REMOTE": str(deploy_remote),
            "DEPLOY_TARGET": "kubernetes",
        },
        secrets={"KUBE_CONFIG": base64.b64encode(KUBECONFIG.encode()).decode()},
        env={
            "GITHUB_REPOSITORY": REPOSITORY,
            "PUSH_TLS_VERIFY": "false",
            "CONTAINER_CACHE": str(REPO_ROOT / ".cache/container"),  # the base image, shared with make container
            "ACT_RELEASE_WORK": str(work),
            "KUBECTL_STANDIN_PROBE": probe,
            **({"KUBECTL_STANDIN_FAIL": kubectl_fails} if kubectl_fails else {}),
        },
        path=[KUBECTL],
        timeout=2400,
    )
    # kept for `python benchmarks/bench_release.py --from-log WORK/act.log` (the step timings of this run)
    (work / "act.log").write_text(result.log, encoding="utf-8")
    return result


def kubectl_calls(result: ActRun) -> list[dict[str, Any]]:
    path = result.record_dir / "kubectl.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture(scope="module")
def failed_deploy(
    tmp_path_factory: pytest.TempPathFactory, registry: str, mlflow_server: str, deploy_remote: Path, probe: str
) -> tuple[ActRun, str]:
    """The first merge: built and pushed, but its rollout fails; and where `champion` points afterwards."""
    work = tmp_path_factory.mktemp("failed-deploy")
    repo = copy_repo(work / "repo")
    result = release(repo, work / "act", registry, mlflow_server, deploy_remote, probe, kubectl_fails="rollout")
    print(f"\nrelease with a failing rollout under act: {result.seconds:.0f} s")
    champion = subprocess.run(probe.split(), capture_output=True, text=True, check=True).stdout.strip()
    return result, champion


@pytest.fixture(scope="module")
def merged(
    failed_deploy: tuple[ActRun, str],  # runs first: this merge then promotes the same model version
    tmp_path_factory: pytest.TempPathFactory,
    registry: str,
    mlflow_server: str,
    deploy_remote: Path,
    probe: str,
) -> tuple[Path, ActRun]:
    work = tmp_path_factory.mktemp("merge")
    repo = copy_repo(work / "repo")
    result = release(repo, work / "act", registry, mlflow_server, deploy_remote, probe)
    print(f"\nrelease under act: {result.seconds:.0f} s")
    return repo, result


def test_a_failed_deploy_moves_neither_champion_nor_the_desired_state(
    failed_deploy: tuple[ActRun, str], deploy_remote: Path
) -> None:
    result, champion_after = failed_deploy
    assert result.returncode != 0, result.describe()
    steps = result.steps()
    assert steps[(BUILD, "make image-push")] == "Success", result.describe()
    assert steps[(DEPLOY, "make deploy")] == "Failure"
    assert "rollout failed (KUBECTL_STANDIN_FAIL=rollout)" in result.log
    calls = kubectl_calls(result)
    assert [c["argv"][0] for c in calls] == ["apply", "apply", "rollout"]
    # nothing after the failed deploy ran: no desired state pushed, `champion` never set
    assert (DEPLOY, "make gitops-publish") not in steps and (DEPLOY, "make release-promote") not in steps
    assert git(deploy_remote, "for-each-ref", "refs/heads").strip() == ""
    assert not (deploy_remote / "champion-at-push.txt").exists()
    assert champion_after == "unset"


def released_model_md5(log: str, pins: dict[str, str]) -> str:
    """The md5 of the model the release materialised: the pin, or (rebuilt on another machine than the one that
    wrote dvc.lock) the equivalent model's, which the release names."""
    summary = re.search(
        rf"materialize: (\d+) of {len(pins)} outputs match the committed dvc\.lock \(rebuilt by dvc repro\); "
        r"the model is (identical|equivalent)",
        log,
    )
    assert summary, log[-5000:]
    if summary.group(2) == "identical":
        assert int(summary.group(1)) == len(pins)
        return pins["models/model.joblib"]
    line = (
        rf"{pins['models/model.joblib']}  models/model\.joblib  \[equivalent, rebuilt\]  \(released: ([0-9a-f]{{32}}),"
    )
    found = re.search(line, log)
    assert found, log[-5000:]
    return found.group(1)


def test_a_merge_ships_the_pinned_model_and_pins_its_digest(
    merged: tuple[Path, ActRun], registry: str, mlflow_server: str, deploy_remote: Path, model_name: str
) -> None:
    from mlflow.tracking import MlflowClient

    repo, result = merged
    assert result.returncode == 0, result.describe()
    steps = result.steps()
    assert steps[(BUILD, "make release-materialize")] == "Success"
    pins = locked_outs(git(repo, "show", "HEAD:dvc.lock"))
    released = released_model_md5(result.log, pins)

    # the served /metadata named the same md5s (checked inside the smoke step), and says so in its output
    smoke = re.search(r"smoke: ok: (\{.*\})", result.log)
    assert smoke, result.describe()
    served = json.loads(smoke.group(1))
    assert served["dvc_outs"] == pins
    assert served["model_md5"] == released
    assert steps[(BUILD, "make smoke-container")] == "Success"

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
    client = MlflowClient(mlflow_server)
    champion = client.get_model_version_by_alias(model_name, "champion")
    version = str(champion.version)
    assert overlay["commonAnnotations"]["mlops-template.dev/model-version"] == version
    assert champion.tags["image"] == ref
    assert champion.tags["model_md5"] == pins["models/model.joblib"]

    # the deploy step deployed that digest: validated, applied, rolled out (what the kubectl stand-in was asked)
    calls = kubectl_calls(result)
    assert [(c["argv"][0], c.get("dry_run")) for c in calls] == [("apply", True), ("apply", False), ("rollout", None)]
    assert all(c["images"] == [ref] for c in calls if c["argv"][0] == "apply")
    # champion moved only after it: while the cluster was changed and when the desired state was pushed, the
    # alias was not yet on this version (this is the first release: unset); it is now, and the steps succeeded
    assert [c["probe"] for c in calls] == ["unset"] * 3
    assert (deploy_remote / "champion-at-push.txt").read_text().split() == ["unset"]
    assert f"promote: {model_name} @champion: unset -> {version}" in result.log
    for step in ("make deploy", "make gitops-publish", "make release-promote"):
        assert steps[(DEPLOY, step)] == "Success", step


def test_a_stale_lock_fails_the_release_naming_the_output(
    merged: tuple[Path, ActRun],
    tmp_path: Path,
    registry: str,
    mlflow_server: str,
    deploy_remote: Path,
    probe: str,
    model_name: str,
) -> None:
    from mlflow.tracking import MlflowClient

    assert merged[1].returncode == 0, "needs the first release (champion, deploy branch)"
    before = git(deploy_remote, "rev-parse", BRANCH).strip()
    repo = copy_repo(tmp_path / "repo")
    lock = (repo / "dvc.lock").read_text()
    pinned = locked_outs(lock)["models/model.joblib"]
    predictions = locked_outs(lock)["metrics/predictions.csv"]
    metrics = locked_outs(lock)["metrics/metrics.json"]
    # another model: other pickle bytes, other predictions and other test metrics (other bytes of the model and
    # its predictions alone, with the same metrics and per-row labels, are accepted as equivalent, as a rebuild on
    # another machine: tests/unit/test_materialize.py, tests/integration/test_other_machine.py)
    lock = lock.replace(pinned, STALE).replace(predictions, STALE_PREDICTIONS).replace(metrics, STALE_METRICS)
    (repo / "dvc.lock").write_text(lock)
    git(repo, "commit", "-qam", "a dvc.lock that pins another model")
    client = MlflowClient(mlflow_server)
    champion_before = client.get_model_version_by_alias(model_name, "champion").version

    result = release(repo, tmp_path / "act", registry, mlflow_server, deploy_remote, probe)
    print(f"\nstale-lock release under act: {result.seconds:.0f} s")
    assert result.returncode != 0
    assert result.steps()[(BUILD, "make release-materialize")] == "Failure"
    # what the rebuild gives (this machine's bytes may differ from the project's pins in their last digits)
    assert f"models/model.joblib: dvc.lock pins {STALE}, materialised " in result.log
    assert f"metrics/predictions.csv: dvc.lock pins {STALE_PREDICTIONS}, materialised " in result.log
    assert f"metrics/metrics.json: dvc.lock pins {STALE_METRICS}, materialised {metrics}" in result.log
    assert "commit dvc.lock through a pull request" in result.log
    assert not [step for (job, step) in result.steps() if job == DEPLOY]  # the deploy job never started
    assert kubectl_calls(result) == []
    assert git(deploy_remote, "rev-parse", BRANCH).strip() == before
    assert client.get_model_version_by_alias(model_name, "champion").version == champion_before
