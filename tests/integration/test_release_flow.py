"""The release Make targets on a trained project copy: each cloud part skips cleanly when not configured,
and `make dvc-push` pushes to a real S3-compatible server (moto) when DVC_REMOTE_URL is set."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mlops_template.ops.serving.record import ReleaseRecord
from tests.support import MOTO_CREDENTIALS, env_with_venv, run, s3_server

pytestmark = pytest.mark.slow

UNSET = ("MLFLOW_TRACKING_URI", "DVC_REMOTE_URL", "DEPLOY_TARGET", "KUBE_CONFIG", "BENTOCLOUD_API_TOKEN")


@pytest.fixture(scope="module")
def flow_repo(trained_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("flow") / "repo"
    shutil.copytree(trained_repo, repo, symlinks=True)
    return repo


def plain_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in env_with_venv().items() if k not in UNSET}
    env.update(extra)
    return env


def test_unconfigured_parts_skip_cleanly(flow_repo: Path) -> None:
    env = plain_env()
    out = run(["make", "release-register", "dvc-push", "release-promote"], cwd=flow_repo, env=env).stdout
    assert "register: skipped (MLFLOW_TRACKING_URI is not set)" in out
    assert "dvc-push: skipped (DVC_REMOTE_URL is not set" in out
    assert "promote: skipped" in out
    record = ReleaseRecord.load(flow_repo / ".cache/release/release.json")
    assert record.version is None
    assert record.dvc_outs["models/model.joblib"] == record.model_md5  # the lineage is recorded all the same
    out = run(["make", "deploy", "IMAGE=ghcr.io/o/r:abc"], cwd=flow_repo, env=env).stdout
    assert "deploy: skipped" in out
    # a deploy target without its credential is an error that names the secret, not a silent skip
    bad = run(["make", "deploy", "IMAGE=ghcr.io/o/r:abc"], cwd=flow_repo, env=plain_env(DEPLOY_TARGET="kubernetes"),
              check=False)  # fmt: skip
    assert bad.returncode != 0
    assert "needs the secret KUBE_CONFIG" in bad.stderr
    # rollback without a registry says what to set
    bad = run(["make", "rollback", "VERSION=1"], cwd=flow_repo, env=env, check=False)
    assert bad.returncode != 0
    assert "set MLFLOW_TRACKING_URI" in bad.stderr


def test_dvc_push_to_a_configured_remote(flow_repo: Path, tmp_path: Path) -> None:
    env = plain_env(**MOTO_CREDENTIALS)
    with s3_server(tmp_path, "release", env) as (endpoint, s3):
        env.update(DVC_REMOTE_URL="s3://release/store", DVC_REMOTE_ENDPOINT_URL=endpoint)
        out = run(["make", "dvc-push"], cwd=flow_repo, env=env).stdout
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="release").get("Contents", [])]
    assert "pushed" in out
    assert len(keys) >= 4  # raw data, split data, model, predictions
    assert all(k.startswith("store/") for k in keys)
    assert "release" in (flow_repo / ".dvc/config.local").read_text()  # never in the committed .dvc/config
    assert "release" not in (flow_repo / ".dvc/config").read_text()
