"""The typed model card: strict, reads a base branch's pre-card metadata, ignores a stale training-run record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from mlops_template.core.lineage import file_md5
from mlops_template.core.model_card import DataLineage, ModelCard, TrainingRun, load_card, load_training_run

CARD = ModelCard(
    task="binary",
    target="y",
    id_column="id",
    features=["a", "b"],
    classes=[0, 1],
    model_type="linear",
    hyperparameters={"C": 1.0},
    seed=1,
    threshold=0.5,
    train_rows=10,
    train_metrics={"roc_auc": 0.9},
    sklearn_version="1.9.1",
    data=DataLineage(data_md5="d" * 32, data_source="fixture.csv"),
)


def test_round_trip_is_byte_stable_and_strict(tmp_path: Path) -> None:
    path = tmp_path / "metadata.json"
    CARD.write(path)
    first = path.read_bytes()
    load_card(path).write(path)
    assert path.read_bytes() == first
    raw = json.loads(first) | {"mlflow_run_id": "abc"}  # a run-specific value does not belong here
    path.write_text(json.dumps(raw))
    with pytest.raises(ValidationError, match="mlflow_run_id"):
        load_card(path)


def test_reads_the_pre_card_format_of_an_older_base_branch(tmp_path: Path) -> None:
    old = CARD.model_dump(exclude={"data", "threshold", "card_version"}) | {
        "ci": False,
        "mlflow": {"run_id": "r"},
        "lineage": {"git_sha": "abc-dirty", "data_md5": "e" * 32, "data_source": "old.csv"},
    }
    path = tmp_path / "metadata.json"
    path.write_text(json.dumps(old))
    card = load_card(path)
    assert (card.data.data_md5, card.data.data_source, card.train_rows) == ("e" * 32, "old.csv", 10)


def test_a_training_run_of_another_model_file_is_ignored(tmp_path: Path) -> None:
    model = tmp_path / "model.joblib"
    model.write_bytes(b"one")
    run_path = tmp_path / "run.json"
    TrainingRun(
        run_id="r",
        experiment_id="1",
        tracking_uri="sqlite:///m.db",
        model_uri="m",
        git_sha="s",
        model_md5=file_md5(model),
    ).write(run_path)
    assert load_training_run(run_path, model) is not None
    model.write_bytes(b"two")  # e.g. outputs pulled from the DVC remote since
    assert load_training_run(run_path, model) is None
