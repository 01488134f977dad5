"""Saving and loading the trained pipeline and its metadata (the contract between training and serving)."""

from __future__ import annotations

from pathlib import Path

import joblib
from sklearn.pipeline import Pipeline

from mlops_template.core import paths
from mlops_template.core.model_card import ModelCard


def save_model(
    model: Pipeline,
    card: ModelCard,
    model_path: Path = paths.MODEL,
    metadata_path: Path = paths.MODEL_METADATA,
) -> None:
    model_path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, model_path)
    card.write(metadata_path)


def load_model(model_path: Path = paths.MODEL) -> Pipeline:
    model: Pipeline = joblib.load(model_path)
    return model
