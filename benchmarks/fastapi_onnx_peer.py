"""The strongest hand-written peer for benchmarks/bench_serving.py: FastAPI + ONNX Runtime.

What a competent engineer deploys when asked for a fast model server, written without the template:

- the request model is pydantic, generated from the schema (the same ``record_type`` the peers share);
- the pipeline's preprocessing is re-done in numpy from the fitted transformers, once per column:
  imputation (the imputer's statistics), standard/min-max scaling (the scaler's arithmetic), booleans as
  0/1, and one-hot categoricals as a dictionary lookup built once from the fitted encoder (missing and
  unknown values included, so the mixed-type data is served too);
- the estimator is converted once with plain ``skl2onnx`` (float32 input, its defaults; for
  HistGradientBoosting the converter needs the project's attribute fix with onnx >= 1.17, see
  onnx_path._skl2onnx_attribute_fix) and run by ONNX Runtime with one thread (intra- and inter-op);
- one async endpoint (no thread-pool hop; one record is ~0.1 ms of CPU), the same answer as the bento.

Run: ``MODEL_DIR=<stored model folder> uvicorn benchmarks.fastapi_onnx_peer:app``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np
import onnxruntime as ort
from fastapi import FastAPI
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, StandardScaler

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
MULTICLASS = CLASSES is not None and len(CLASSES) > 2


def _affine(steps: list[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fill, mul, add) for imputer + scaler: x -> (x if present else fill) * mul + add."""
    imputer, scaler = steps[0], steps[1] if len(steps) > 1 else "passthrough"
    fill = np.asarray(imputer.statistics_, dtype=np.float64)
    if isinstance(scaler, StandardScaler):
        mean = scaler.mean_ if scaler.mean_ is not None else np.zeros_like(fill)
        scale = scaler.scale_ if scaler.scale_ is not None else np.ones_like(fill)
        return fill, 1.0 / scale, -mean / scale
    if isinstance(scaler, MinMaxScaler):
        return fill, scaler.scale_, scaler.min_
    return fill, np.ones_like(fill), np.zeros_like(fill)


def _one_hot_tables(steps: list[Any], columns: list[str]) -> list[tuple[str, dict[Any, np.ndarray], np.ndarray]]:
    """Per categorical column: {value: its one-hot block}, and the block of an unknown value."""
    imputer, encoder = steps
    assert isinstance(encoder, OneHotEncoder)
    fills = imputer.statistics_
    sentinel = "\x00unknown"
    base = [cats[0] for cats in encoder.categories_]
    bounds = np.cumsum([0, *encoder._n_features_outs])  # noqa: SLF001 - no public per-column width in sklearn
    tables = []
    for j, name in enumerate(columns):

        def block(value: Any, j: int = j) -> np.ndarray:
            row = np.array([[*base[:j], value, *base[j + 1 :]]], dtype=object)
            out = encoder.transform(row)
            out = out.toarray() if hasattr(out, "toarray") else out
            return np.asarray(out[0, bounds[j] : bounds[j + 1]], dtype=np.float32)

        table = {c: block(c) for c in encoder.categories_[j]}
        table[None] = block(fills[j])
        tables.append((name, table, block(sentinel)))
    return tables


def compile_preprocessing() -> Callable[[dict[str, Any]], np.ndarray]:
    """One record -> the estimator's float32 input row, computed with numpy from the fitted transformers."""
    ct = PIPELINE.steps[0][1]
    parts: list[Callable[[dict[str, Any]], np.ndarray]] = []
    for name, trans, columns in ct.transformers_:
        if name == "remainder" or trans == "drop":
            continue
        steps = [s for _, s in trans.steps] if hasattr(trans, "steps") else [trans]
        if name in ("numeric", "boolean"):
            steps = [s for s in steps if type(s).__name__ != "FunctionTransformer"]  # booleans: 0/1 below
            fill, mul, add = _affine(steps)
            cols = list(columns)

            def numeric(r: dict[str, Any], cols=cols, fill=fill, mul=mul, add=add) -> np.ndarray:
                x = np.array([r[c] for c in cols], dtype=np.float64)  # None -> nan
                x = np.where(np.isnan(x), fill, x)
                return (x * mul + add).astype(np.float32)

            parts.append(numeric)
        elif name == "categorical":
            tables = _one_hot_tables(steps, list(columns))

            def categorical(r: dict[str, Any], tables=tables) -> np.ndarray:
                return np.concatenate([t.get(r[c], unknown) for c, t, unknown in tables])

            parts.append(categorical)
        else:
            raise SystemExit(f"fastapi_onnx_peer: no numpy preprocessing for the {name!r} branch")
    return lambda r: np.concatenate([p(r) for p in parts]).reshape(1, -1)


def convert() -> ort.InferenceSession:
    """The estimator as ONNX (plain skl2onnx, float32 input), run with one thread."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    from mlops_template.ops.serving.onnx_path import _skl2onnx_attribute_fix

    estimator = PIPELINE.steps[-1][1]
    n_inputs = PREPROCESS({f: _example(f) for f in FEATURES}).shape[1]
    options = {id(estimator): {"zipmap": False}} if IS_CLASSIFIER else None
    with _skl2onnx_attribute_fix():  # HistGradientBoosting does not convert under onnx >= 1.17 without it
        onx = convert_sklearn(estimator, initial_types=[("x", FloatTensorType([None, n_inputs]))], options=options)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    return ort.InferenceSession(onx.SerializeToString(), so, providers=["CPUExecutionProvider"])


def _example(feature: str) -> Any:
    col = LOADED.spec.columns[feature]
    if col.allowed:
        return col.allowed[0]
    return {"str": "a", "bool": False}.get(col.dtype, 0.0)


PREPROCESS = compile_preprocessing()
SESSION = convert()
OUTPUT = SESSION.get_outputs()[1 if IS_CLASSIFIER else 0].name
app = FastAPI()


@app.post("/predict")
async def predict(body: dict[str, Record]) -> dict[str, Any]:  # type: ignore[valid-type]
    out = SESSION.run([OUTPUT], {"x": PREPROCESS(body["record"])})[0][0]
    probabilities = None
    if CLASSES is None:
        score = float(out if np.ndim(out) == 0 else out[0])
        label: Any = score
    elif not MULTICLASS:
        score = float(out[1])
        label = CLASSES[int(score >= THRESHOLD)]
    else:
        top = int(np.argmax(out))
        label, score = CLASSES[top], float(out[top])
        probabilities = {str(c): float(p) for c, p in zip(CLASSES, out, strict=True)}
    label = label.item() if hasattr(label, "item") else label
    return {"label": label, "score": score, "probabilities": probabilities, "model_version": LOADED.tag}


@app.post("/predict_batch")
async def predict_batch(body: dict[str, Records]) -> dict[str, Any]:  # type: ignore[valid-type]
    x = np.vstack([PREPROCESS(r) for r in body["records"]])
    out = SESSION.run([OUTPUT], {"x": x})[0]
    if CLASSES is None:
        scores = out.reshape(-1).astype(float).tolist()
        return {"labels": scores, "scores": scores, "model_version": LOADED.tag}
    if not MULTICLASS:
        positive = out[:, 1].astype(float)
        labels = CLASSES[(positive >= THRESHOLD).astype(int)]
        return {"labels": labels.tolist(), "scores": positive.tolist(), "model_version": LOADED.tag}
    return {"labels": CLASSES[out.argmax(1)].tolist(), "scores": out.max(1).tolist(), "model_version": LOADED.tag}
