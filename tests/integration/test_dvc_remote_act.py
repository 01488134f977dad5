"""The team's DVC remote end to end, on a real S3 server (moto) and under act: PR -> push -> merge -> release.

A local bare repository plays GitHub. Its ``main`` is the trained project, and main's outputs are on the S3 remote
(as main's release pushed them). The PR branch lowers ``model.linear.C``; its author re-ran the pipeline
(``make repro``) and committed dvc.lock, but pushed nothing. The Actions cache is empty (a PR's first run, on
a runner that never saw main's cache). The repository's ``vars`` name the remote and its endpoint; its secrets
hold the S3 credentials.

1. pr.yml's experiment job, same-repository PR: ``make dvc-pull`` pulls what exists. ``make pr-report`` takes
   main's model from the S3 remote at main's revision (``DVCFileSystem``), with no rebuild. ``make lock-check``
   passes, then ``make pr-push`` pushes the PR's outputs and says what it pushed in the job summary.
2. The merge: ``main`` moves to the PR's merge commit.
3. The release's materialise step on a fresh clone (``make release-materialize`` with the remote's variables
   and credentials, as release.yml's build job runs it; the whole build job under act needs podman and takes
   about 16 minutes: tests/integration/test_release_act.py). It pulls, rebuilds nothing, and the outputs are
   byte-identical to the ones the PR pushed.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from emulation.act.harness import ActRun, pull_request_event, run_workflow, set_param, uv_cache_dir
from mlops_template.core.lineage import file_md5, locked_outs
from tests.support import MOTO_CREDENTIALS, env_with_venv, git, run, s3_server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

BUCKET = "team-dvc"
PREFIX = "project"
REMOTE = f"s3://{BUCKET}/{PREFIX}"
JOB = "pr-experiment/train, compare with main, report, gate"
PR_REPORT = "make pr-report (retrain, compare with main, report)"
# the outputs DVC caches (and pushes); the others (metrics.json, plots, reports) are committed to git
CACHED = ("data/raw/data.parquet", "data/split/test.parquet", "data/split/train.parquet")
CACHED += ("metrics/predictions.csv", "models/model.joblib")


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    work = tmp_path_factory.mktemp("moto")
    with s3_server(work, BUCKET, env_with_venv(MOTO_CREDENTIALS)) as (endpoint, client):
        yield endpoint, client


def remote_env(endpoint: str) -> dict[str, str]:
    return env_with_venv({**MOTO_CREDENTIALS, "DVC_REMOTE_URL": REMOTE, "DVC_REMOTE_ENDPOINT_URL": endpoint})


def on_remote(client: Any) -> set[str]:
    """The md5s of the files on the remote (DVC 3 keeps them under files/md5/xx/yyyy...)."""
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}/files/md5/").get("Contents", [])
    return {"".join(obj["Key"].split("/")[-2:]) for obj in listed}


def committed_pins(repo: Path, rev: str = "HEAD") -> dict[str, str]:
    pins = locked_outs(git(repo, "show", f"{rev}:dvc.lock"))
    return {path: pins[path] for path in CACHED}


@pytest.fixture(scope="module")
def github(tmp_path_factory: pytest.TempPathFactory, trained_repo: Path, s3: tuple[str, Any]) -> Path:
    """``origin.git`` (main + the PR branch ``lower-c``); main's outputs on the remote; returns the runner's checkout
    at the PR's merge commit."""
    endpoint, client = s3
    env = remote_env(endpoint)
    work = tmp_path_factory.mktemp("remote-act")
    author = work / "author"  # main as trained here (its dvc.lock as this machine writes it), then the PR's author
    shutil.copytree(trained_repo, author, symlinks=True)
    git(author, "add", "-A")
    git(author, "commit", "-q", "--allow-empty", "-m", "main: pipeline outputs")
    run(["dvc", "remote", "add", "--local", "-f", "team", REMOTE], cwd=author, env=env)
    run(["dvc", "remote", "modify", "--local", "team", "endpointurl", endpoint], cwd=author, env=env)
    run(["dvc", "push", "-r", "team"], cwd=author, env=env)  # main's release pushed main's outputs
    assert set(committed_pins(author).values()) <= on_remote(client)
    git(author, "checkout", "-q", "-b", "lower-c")
    set_param(author, "model.linear.C", "0.5")
    run(["dvc", "repro"], cwd=author, env=env)  # the author re-ran the pipeline ...
    git(author, "commit", "-q", "-am", "lower C")  # ... committed dvc.lock, and pushed no output
    git(author, "checkout", "-q", "main")  # origin's HEAD: main
    origin = work / "origin.git"
    git(work, "clone", "-q", "--bare", str(author), str(origin))
    repo = work / "repo"
    git(work, "clone", "-q", str(origin), str(repo))
    git(repo, "branch", "lower-c", "origin/lower-c")
    git(repo, "checkout", "-q", "--detach", "origin/main")
    git(repo, "merge", "-q", "--no-ff", "lower-c", "-m", "Merge lower-c into main")
    new = {p: m for p, m in committed_pins(repo).items() if m != committed_pins(repo, "origin/main")[p]}
    assert "models/model.joblib" in new and not set(new.values()) & on_remote(client), new
    return repo


@pytest.fixture(scope="module")
def pr_run(github: Path, s3: tuple[str, Any], tmp_path_factory: pytest.TempPathFactory) -> ActRun:
    endpoint, _ = s3
    return run_workflow(
        github,
        pull_request_event(github, "main", "lower-c", number=21),
        tmp_path_factory.mktemp("pr-act"),
        jobs=["experiment"],
        uv_cache_dir=uv_cache_dir(),
        variables={"DVC_REMOTE_URL": REMOTE, "DVC_REMOTE_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": "us-east-1"},
        # the PR job's CI key (docs/credentials.md), under the names pr.yml reads
        secrets={f"AWS_CI_{k[4:]}": MOTO_CREDENTIALS[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")},
    )


def test_the_pr_reads_mains_model_from_the_remote_and_pushes_its_outputs(
    pr_run: ActRun, github: Path, s3: tuple[str, Any]
) -> None:
    assert pr_run.returncode == 0, pr_run.describe()
    steps = pr_run.steps()
    for name in ("make dvc-pull", PR_REPORT, "make lock-check", "make pr-push", "make gate"):
        assert steps.get((JOB, name)) == "Success", f"{name} -> {steps.get((JOB, name))}"
    log = pr_run.log
    assert "dvc-pull: pulling from remote 'ci' (s3://team-dvc/project)" in log
    # main's model came from S3 at main's revision (the Actions cache was empty): not rebuilt
    assert "DVC cache/remote (the exact files of the base dvc.lock)" in log
    assert "reproducing" not in log and "neither in the DVC cache nor on a reachable remote" not in log
    assert "Running stage 'train'" in log  # the candidate was trained on the runner
    _, client = s3
    pins = committed_pins(github)
    assert set(pins.values()) <= on_remote(client), "the PR's outputs are not all on the remote"
    summary = pr_run.summary()
    for path, md5 in pins.items():
        assert f"`{path}`" in summary and md5 in summary, summary


def test_after_the_merge_the_release_pulls_exactly_the_reviewed_outputs(
    pr_run: ActRun, github: Path, s3: tuple[str, Any], tmp_path: Path
) -> None:
    assert pr_run.returncode == 0, pr_run.describe()
    pushed = committed_pins(github)
    git(github, "push", "-q", "origin", "HEAD:main")  # the merge
    origin = git(github, "remote", "get-url", "origin").strip()
    fresh = tmp_path / "release"
    git(tmp_path, "clone", "-q", origin, str(fresh))  # the release runner's checkout of main
    assert not (fresh / "models/model.joblib").exists() and not (fresh / ".dvc/cache").exists()
    endpoint, _ = s3
    result = run(["make", "SETUP=", "RUN=", "release-materialize"], cwd=fresh, env=remote_env(endpoint), timeout=600)
    out = result.stdout + result.stderr
    assert "pulled from the DVC remote" in out and "rebuilt" not in out and "Running stage" not in out, out
    for path, md5 in pushed.items():
        assert file_md5(fresh / path) == md5, path
