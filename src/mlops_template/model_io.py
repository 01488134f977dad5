"""Saving and loading the trained pipeline and its metadata (the contract between training and serving)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import joblib
from sklearn.pipeline import Pipeline

from mlops_template import paths


def save_model(
    model: Pipeline,
    metadata: dict[str, Any],
    model_path: Path = paths.MODEL,
    metadata_path: Path = paths.MODEL_METADATA,
) -> None:
    model_path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, model_path)
    metadata_path.write_text(json.dumps(metadata, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")


def load_model(model_path: Path = paths.MODEL) -> Pipeline:
    model: Pipeline = joblib.load(model_path)
    return model


def load_metadata(metadata_path: Path = paths.MODEL_METADATA) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(metadata_path.read_text(encoding="utf-8"))
    return data
