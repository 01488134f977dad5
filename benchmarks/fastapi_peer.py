"""The peer for benchmarks/bench_serving.py: a minimal FastAPI + uvicorn app serving the same model.

It validates requests with the same schema-derived record type as the bento, and scores the
straightforward way: one pandas DataFrame per request, ``pipeline.predict_proba`` (classifiers) or
``pipeline.predict`` (regressors), with the same answer as the bento: binary -> P(positive) against
the model card's threshold; multiclass -> argmax label, top-class probability and every class's
probability (single records); regression -> the prediction as label and score.
Run: ``MODEL_DIR=<stored model folder> uvicorn benchmarks.fastapi_peer:app``.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd
from fastapi import FastAPI

from mlops_template.ops.serving.store import load_stored
from mlops_template.ops.serving.validation import record_type, records_type

LOADED = load_stored(os.environ["MODEL_DIR"], os.environ.get("MODEL_TAG", "peer"))
FEATURES = LOADED.features
PIPELINE = LOADED.pipeline
Record = record_type(LOADED.spec, FEATURES)
Records = records_type(Record, 100_000)
THRESHOLD = LOADED.card.threshold
IS_CLASSIFIER = hasattr(PIPELINE, "predict_proba")
CLASSES = np.asarray(PIPELINE.classes_, dtype=object) if IS_CLASSIFIER else None
app = FastAPI()


def score(frame: pd.DataFrame) -> tuple[list[Any], list[float], np.ndarray | None]:
    """(labels, scores, probabilities or None) by the evaluation stage's decision rule."""
    if CLASSES is None:
        values = np.asarray(PIPELINE.predict(frame), dtype=float)
        return values.tolist(), values.tolist(), None
    proba = PIPELINE.predict_proba(frame)
    if proba.shape[1] == 2:
        positive = proba[:, 1]
        return CLASSES[(positive >= THRESHOLD).astype(int)].tolist(), positive.tolist(), None
    return CLASSES[proba.argmax(axis=1)].tolist(), proba.max(axis=1).tolist(), proba


@app.post("/predict")
def predict(body: dict[str, Record]) -> dict[str, Any]:  # type: ignore[valid-type]
    labels, scores, proba = score(pd.DataFrame([body["record"]], columns=FEATURES))
    probabilities = None
    if proba is not None and CLASSES is not None:
        probabilities = {str(c): float(p) for c, p in zip(CLASSES, proba[0], strict=True)}
    return {"label": labels[0], "score": scores[0], "probabilities": probabilities, "model_version": LOADED.tag}


@app.post("/predict_batch")
def predict_batch(body: dict[str, Records]) -> dict[str, Any]:  # type: ignore[valid-type]
    labels, scores, _ = score(pd.DataFrame(body["records"], columns=FEATURES))
    return {"labels": labels, "scores": scores, "model_version": LOADED.tag}
