"""The model card: one typed record of what a model is and where it came from.

Two parts, kept apart on purpose so that two clean runs of the pipeline give an identical ``dvc.lock``:

- :class:`ModelCard` is the **static** part, written by the ``train`` stage to ``models/metadata.json`` (a DVC
  output). It holds only what the code, params and data determine: task, features, classes, hyperparameters,
  train metrics, threshold and the data hash. No run ids, commit SHAs or times.
- :class:`Lineage` is the **run-specific** part: the training run (:class:`TrainingRun`, written by ``train`` to a
  git-ignored file and logged as MLflow tags), and what the release adds (git SHA of the release, the md5 of every
  output pinned by ``dvc.lock``, the registered MLflow version, bento tag, image digest). It is filled in at bento
  time (stored with the model in the BentoML model store, so the service's ``/metadata`` returns it) and in the
  release record.

:class:`ServedCard` = card + lineage: what ``/metadata`` returns and what the release record holds.
Every reader (evaluation, the PR report, serving, the release) goes through :func:`load_card`; nobody reads the
JSON with ``.get()``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mlops_template.core import paths

Label = int | float | str | bool


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataLineage(_Strict):
    data_md5: str = Field(description="md5 of data/raw/data.parquet (the hash dvc.lock records for it)")
    data_source: str = Field(description="params data.source the raw data was extracted from")


class ModelCard(_Strict):
    """Static facts about the trained model (models/metadata.json): deterministic for a given commit."""

    card_version: int = 1
    task: str
    target: str
    id_column: str
    features: list[str]
    classes: list[Label] | None
    model_type: str
    hyperparameters: dict[str, Any]
    seed: int
    threshold: float = Field(description="decision threshold for the positive class (binary)")
    train_rows: int
    train_metrics: dict[str, float]
    sklearn_version: str
    data: DataLineage

    def write(self, path: Path = paths.MODEL_METADATA) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True) + "\n", encoding="utf-8")


class TrainingRun(_Strict):
    """The MLflow run that trained the model (run-specific: never in a DVC output)."""

    run_id: str
    experiment_id: str
    tracking_uri: str
    model_uri: str
    git_sha: str = Field(description="commit the model was trained from (-dirty when the tree had changes)")
    model_md5: str = Field(description="md5 of the model file this run produced (a stale record is ignored)")

    def write(self, path: Path = paths.TRAINING_RUN) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.model_dump(), indent=2, sort_keys=True) + "\n", encoding="utf-8")


class Lineage(_Strict):
    """Where a served model came from: filled in at bento time, completed by the release record."""

    git_sha: str = Field(description="commit the bento / release was built from")
    model_md5: str
    data_md5: str
    data_source: str
    dvc_outs: dict[str, str] = Field(
        default_factory=dict, description="md5 of every output pinned by dvc.lock, by path (stage outputs)"
    )
    mlflow_run_id: str | None = None
    mlflow_model_uri: str | None = None
    mlflow_tracking_uri: str | None = None
    mlflow_registered_model: str | None = None
    mlflow_model_version: str | None = None
    bento_tag: str | None = None
    image_digest: str | None = Field(None, description="set in the release record after the push (not in the image)")


class ServedCard(ModelCard):
    """The card plus its lineage and test metrics: what ``/metadata`` returns and the release records."""

    lineage: Lineage
    test_metrics: dict[str, float] = Field(default_factory=dict)


# Keys older versions wrote into models/metadata.json (a base branch may still have them); dropped on read.
_LEGACY_KEYS = ("ci", "mlflow", "lineage")


def _legacy(raw: dict[str, Any]) -> dict[str, Any]:
    if "data" in raw or "lineage" not in raw:
        return raw
    old = raw.get("lineage") or {}
    out = {k: v for k, v in raw.items() if k not in _LEGACY_KEYS}
    out["data"] = {"data_md5": old.get("data_md5", "unknown"), "data_source": old.get("data_source", "unknown")}
    out.setdefault("threshold", 0.5)
    return out


def load_card(path: Path = paths.MODEL_METADATA) -> ModelCard:
    """Read ``models/metadata.json`` (also the pre-card format a base branch may still hold)."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    return ModelCard.model_validate(_legacy(raw))


def load_served(path: Path) -> ServedCard:
    return ServedCard.model_validate_json(path.read_text(encoding="utf-8"))


def load_training_run(path: Path = paths.TRAINING_RUN, model_path: Path = paths.MODEL) -> TrainingRun | None:
    """The run that trained the model now in ``model_path``, or None (e.g. outputs pulled from a DVC remote)."""
    from mlops_template.core.lineage import file_md5

    if not path.is_file() or not model_path.is_file():
        return None
    run = TrainingRun.model_validate_json(path.read_text(encoding="utf-8"))
    return run if run.model_md5 == file_md5(model_path) else None
