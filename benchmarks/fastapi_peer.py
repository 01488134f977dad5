"""The peer for benchmarks/bench_serving.py: a minimal FastAPI + uvicorn app serving the same model.

It validates requests with the same schema-derived record type as the bento, and scores the
straightforward way: one pandas DataFrame per request, ``pipeline.predict_proba``.
Run: ``MODEL_DIR=<stored model folder> uvicorn benchmarks.fastapi_peer:app``.
"""

from __future__ import annotations

import os
from typing import Any

import pandas as pd
from fastapi import FastAPI

from mlops_template.serving.store import load_stored
from mlops_template.serving.validation import record_type, records_type

LOADED = load_stored(os.environ["MODEL_DIR"], os.environ.get("MODEL_TAG", "peer"))
FEATURES = LOADED.features
Record = record_type(LOADED.spec, FEATURES)
Records = records_type(Record, 100_000)
THRESHOLD = LOADED.card.threshold
app = FastAPI()


@app.post("/predict")
def predict(body: dict[str, Record]) -> dict[str, Any]:  # type: ignore[valid-type]
    frame = pd.DataFrame([body["record"]], columns=FEATURES)
    score = float(LOADED.pipeline.predict_proba(frame)[0, 1])
    return {"label": int(score >= THRESHOLD), "score": score, "model_version": LOADED.tag}


@app.post("/predict_batch")
def predict_batch(body: dict[str, Records]) -> dict[str, Any]:  # type: ignore[valid-type]
    frame = pd.DataFrame(body["records"], columns=FEATURES)
    scores = LOADED.pipeline.predict_proba(frame)[:, 1]
    return {"labels": (scores >= THRESHOLD).astype(int).tolist(), "scores": scores.tolist()}
