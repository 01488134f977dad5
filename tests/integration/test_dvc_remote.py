"""`dvc push` / `dvc pull` round-trip against a real S3-compatible server (moto) on 127.0.0.1."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mlops_template.lineage import file_md5
from tests.support import env_with_venv, free_port, git, run, server

pytestmark = pytest.mark.slow

OUTS = ["data/raw/data.parquet", "data/split/train.parquet", "models/model.joblib", "metrics/predictions.csv"]


def test_push_pull_round_trip_through_s3(trained_repo: Path, tmp_path: Path) -> None:
    import boto3

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    creds = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    env = env_with_venv(creds)
    with server(
        ["moto_server", "-H", "127.0.0.1", "-p", str(port)],
        f"{endpoint}/moto-api/",
        cwd=tmp_path,
        log_path=tmp_path / "moto.log",
        env=env,
        timeout=60,
    ):
        boto3.client(
            "s3",
            endpoint_url=endpoint,
            **{k.lower(): v for k, v in creds.items() if k != "AWS_DEFAULT_REGION"},
            region_name="us-east-1",
        ).create_bucket(Bucket="dvc-test")
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
