"""The DVC pipeline end to end in temporary copies of the repository."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from mlops_template.core.lineage import file_md5
from mlops_template.core.model_card import load_card, load_training_run
from tests.support import copy_repo, run

pytestmark = pytest.mark.slow

STAGES = ["extract", "validate", "split", "train", "evaluate", "profile"]


def test_pipeline_produces_every_artifact(trained_repo: Path) -> None:
    for rel in [
        "data/raw/data.parquet",
        "data/split/train.parquet",
        "data/split/test.parquet",
        "reports/validation.json",
        "models/model.joblib",
        "models/metadata.json",
        "metrics/metrics.json",
        "metrics/predictions.csv",
        "plots/roc.csv",
        "plots/roc.png",
        "plots/pr.png",
        "plots/confusion.png",
        "plots/calibration.png",
        "models/reference_profile.json",
    ]:
        assert (trained_repo / rel).is_file(), rel
    lock = yaml.safe_load((trained_repo / "dvc.lock").read_text())
    assert set(lock["stages"]) == set(STAGES)
    metrics = json.loads((trained_repo / "metrics/metrics.json").read_text())
    assert set(metrics) == {"roc_auc", "pr_auc", "f1", "precision", "recall", "accuracy", "log_loss", "brier"}
    assert metrics["roc_auc"] > 0.97
    predictions = (trained_repo / "metrics/predictions.csv").read_text().splitlines()
    assert predictions[0].startswith("id,label,prediction,score")
    assert len(predictions) == 1 + 114


def test_model_is_traceable_to_the_data_hash(trained_repo: Path) -> None:
    lock = yaml.safe_load((trained_repo / "dvc.lock").read_text())
    raw_md5 = lock["stages"]["extract"]["outs"][0]["md5"]
    card = load_card(trained_repo / "models/metadata.json")
    assert card.data.data_md5 == raw_md5 == file_md5(trained_repo / "data/raw/data.parquet")
    assert card.features and "id" not in card.features and "target" not in card.features
    # the run-specific half lives outside the DVC outputs
    training = load_training_run(trained_repo / ".cache/run/training_run.json", trained_repo / "models/model.joblib")
    assert training is not None and training.run_id and len(training.git_sha) >= 40


def test_second_repro_has_nothing_to_do(trained_repo: Path) -> None:
    result = run(["dvc", "repro"], cwd=trained_repo)
    for stage in STAGES:
        assert f"Stage '{stage}' didn't change, skipping" in result.stdout, result.stdout
    assert "Running stage" not in result.stdout
    status = run(["dvc", "status"], cwd=trained_repo)
    assert "up to date" in status.stdout


def test_metrics_show_lists_the_metrics(trained_repo: Path) -> None:
    out = run(["dvc", "metrics", "show", "--json"], cwd=trained_repo).stdout
    shown = json.loads(out)
    data = next(iter(shown.values()))["data"]["metrics/metrics.json"]["data"]
    assert data == json.loads((trained_repo / "metrics/metrics.json").read_text())


def test_two_clean_runs_give_identical_lock(trained_repo: Path, tmp_path: Path) -> None:
    """Another clean copy (another commit SHA, another MLflow run, another time) pins the very same outputs."""
    other = copy_repo(tmp_path / "again")
    run(["dvc", "repro"], cwd=other)
    assert (other / "dvc.lock").read_text() == (trained_repo / "dvc.lock").read_text()
    assert (other / "models/metadata.json").read_bytes() == (trained_repo / "models/metadata.json").read_bytes()
    assert (other / "metrics/metrics.json").read_text() == (trained_repo / "metrics/metrics.json").read_text()
    assert (other / "metrics/predictions.csv").read_text() == (trained_repo / "metrics/predictions.csv").read_text()
    assert (other / "data/split/test.parquet").read_bytes() == (trained_repo / "data/split/test.parquet").read_bytes()


def test_params_change_reruns_only_downstream_stages(trained_repo: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(trained_repo, repo, symlinks=True)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["model"]["linear"]["C"] = 0.5
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    result = run(["dvc", "repro"], cwd=repo)
    assert "Running stage 'train'" in result.stdout
    assert "Running stage 'evaluate'" in result.stdout
    assert "Running stage 'extract'" not in result.stdout
    assert "Running stage 'split'" not in result.stdout
