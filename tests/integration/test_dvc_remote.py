"""`dvc push` / `dvc pull` round-trip against a real S3-compatible server (moto) on 127.0.0.1."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mlops_template.lineage import file_md5
from tests.support import MOTO_CREDENTIALS, env_with_venv, git, run, s3_server

pytestmark = pytest.mark.slow

OUTS = ["data/raw/data.parquet", "data/split/train.parquet", "models/model.joblib", "metrics/predictions.csv"]


def test_push_pull_round_trip_through_s3(trained_repo: Path, tmp_path: Path) -> None:
    env = env_with_venv(MOTO_CREDENTIALS)
    with s3_server(tmp_path, "dvc-test", env) as (endpoint, _):
        producer = tmp_path / "producer"
        shutil.copytree(trained_repo, producer, symlinks=True)
        run(["dvc", "remote", "add", "-d", "-f", "s3", "s3://dvc-test/store"], cwd=producer, env=env)
        run(["dvc", "remote", "modify", "s3", "endpointurl", endpoint], cwd=producer, env=env)
        pushed = run(["dvc", "push"], cwd=producer, env=env)
        assert "pushed" in pushed.stdout
        git(producer, "add", "-A")
        git(producer, "commit", "-qm", "trained, remote configured")

        consumer = tmp_path / "consumer"
        git(tmp_path, "clone", "-q", str(producer), str(consumer))
        assert not (consumer / "models/model.joblib").exists()
        run(["dvc", "pull"], cwd=consumer, env=env)
        for rel in OUTS:
            assert file_md5(consumer / rel) == file_md5(producer / rel), rel
        status = run(["dvc", "status"], cwd=consumer, env=env)
        assert "up to date" in status.stdout
