"""The train stage logs to a real `mlflow server` when MLFLOW_TRACKING_URI points at one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mlops_template.core.model_card import load_card, load_training_run
from tests.support import env_with_venv, run

pytestmark = pytest.mark.slow


def test_train_and_evaluate_log_to_a_real_tracking_server(
    mlflow_server: str, trained_repo: Path, tmp_path: Path
) -> None:
    import mlflow
    from mlflow.tracking import MlflowClient

    repo = tmp_path / "repo"
    shutil.copytree(trained_repo, repo, symlinks=True)
    env = env_with_venv({"MLFLOW_TRACKING_URI": mlflow_server})
    for stage in ("train", "evaluate"):
        run(["dvc", "repro", "--force", "--single-item", stage], cwd=repo, env=env)
    card = load_card(repo / "models/metadata.json")
    trained = load_training_run(repo / ".cache/run/training_run.json", repo / "models/model.joblib")
    assert trained is not None and trained.tracking_uri == mlflow_server

    client = MlflowClient(tracking_uri=mlflow_server)
    run_ = client.get_run(trained.run_id)
    assert run_.data.params["model.type"] == "linear"
    assert run_.data.params["seed"] == "42"
    assert run_.data.tags["data_md5"] == card.data.data_md5
    assert run_.data.tags["git_sha"] == trained.git_sha
    metrics = json.loads((repo / "metrics/metrics.json").read_text())
    assert run_.data.metrics["test_roc_auc"] == pytest.approx(metrics["roc_auc"])
    assert "train_roc_auc" in run_.data.metrics
    plots = {a.path for a in client.list_artifacts(run_.info.run_id, "plots")}
    assert "plots/roc.png" in plots

    mlflow.set_tracking_uri(mlflow_server)
    model = mlflow.sklearn.load_model(trained.model_uri)
    import pandas as pd

    test = pd.read_parquet(repo / "data/split/test.parquet")
    preds = pd.read_csv(repo / "metrics/predictions.csv")
    scores = model.predict_proba(test[card.features])[:, 1]
    assert scores.round(6).tolist() == pytest.approx(preds["score"].round(6).tolist())


def test_unreachable_tracking_server_fails_with_advice(trained_repo: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(trained_repo, repo, symlinks=True)
    env = env_with_venv(
        {
            "MLFLOW_TRACKING_URI": "http://127.0.0.1:9",
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
            "MLFLOW_HTTP_REQUEST_TIMEOUT": "3",
        }
    )
    before = (repo / "models/model.joblib").read_bytes()
    result = run(["python", "-m", "mlops_template.core.stages.train"], cwd=repo, env=env, check=False, timeout=300)
    assert result.returncode == 1
    assert "MLflow logging to http://127.0.0.1:9 failed" in result.stderr
    assert "unset MLFLOW_TRACKING_URI" in result.stderr
    assert (repo / "models/model.joblib").read_bytes() == before
