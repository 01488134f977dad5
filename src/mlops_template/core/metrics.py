"""Predictions of a model, and the metrics of its task on them (the catalogue's computations on the full data)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from mlops_template.core.config import TaskType
from mlops_template.core.metric_catalogue import compute_all
from mlops_template.core.metric_kernels import Rows, resample_counts


@dataclass(frozen=True)
class Predictions:
    """Model output on a set of rows. ``proba`` is (n, k) for classifiers, None for regression."""

    ids: np.ndarray
    y_true: np.ndarray
    y_pred: np.ndarray
    proba: np.ndarray | None
    classes: np.ndarray | None

    @property
    def positive_score(self) -> np.ndarray:
        """Binary: probability of the positive (last) class; regression: the prediction."""
        if self.proba is None:
            return self.y_pred.astype(float)
        return self.proba[:, -1]

    def to_frame(self) -> pd.DataFrame:
        frame = pd.DataFrame({"id": self.ids, "label": self.y_true, "prediction": self.y_pred})
        if self.proba is None:
            frame["score"] = self.y_pred.astype(float)
        elif self.proba.shape[1] == 2:
            frame["score"] = self.proba[:, 1]
        else:
            frame["score"] = self.proba.max(axis=1)
            for j, cls in enumerate(self.classes if self.classes is not None else []):
                frame[f"proba_{cls}"] = self.proba[:, j]
        return frame


def predict(model: Pipeline, frame: pd.DataFrame, target: str, id_column: str, threshold: float = 0.5) -> Predictions:
    x = frame.drop(columns=[target, id_column], errors="ignore")
    ids = frame[id_column].to_numpy() if id_column in frame else np.arange(len(frame))
    y_true = frame[target].to_numpy()
    if hasattr(model, "predict_proba"):
        proba = model.predict_proba(x)
        classes = np.asarray(model.classes_)
        if proba.shape[1] == 2:
            y_pred = np.where(proba[:, 1] >= threshold, classes[1], classes[0])
        else:
            y_pred = classes[proba.argmax(axis=1)]
        return Predictions(ids, y_true, y_pred, proba, classes)
    return Predictions(ids, y_true, model.predict(x), None, None)


def compute_metrics(
    task: TaskType, y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray | None, classes: np.ndarray | None
) -> dict[str, float]:
    """Every catalogue metric of the task on all rows (weights of one), rounded to 6 digits so reruns compare
    exactly; a metric undefined on these rows (e.g. ROC AUC with one class present) is left out."""
    rows = Rows(task, y_true, y_pred, proba, classes, dtype=np.float64)
    values = compute_all(rows, np.ones((1, rows.n)))
    return {k: round(float(v[0]), 6) for k, v in values.items() if np.isfinite(v[0])}


def metrics_of(task: TaskType, p: Predictions) -> dict[str, float]:
    return compute_metrics(task, p.y_true, p.y_pred, p.proba, p.classes)


def standard_errors(task: TaskType, p: Predictions, resamples: int, seed: int) -> dict[str, float]:
    """The bootstrap standard error of every metric of ``p`` (standard deviation over ``resamples`` resamples of
    the rows; resamples on which a metric is undefined are left out, and a metric defined on fewer than half of
    them gets none). The evaluate stage records it for the test metrics, so the live-performance check can
    allow for the test metric's own sampling error (ops/monitoring/performance.py)."""
    rows = Rows(task, p.y_true, p.y_pred, p.proba, p.classes, dtype=np.float32)
    parts: dict[str, list[np.ndarray]] = {}
    for w in resample_counts(len(p.y_true), resamples, seed):
        for name, values in compute_all(rows, w, None).items():
            parts.setdefault(name, []).append(values)
    out: dict[str, float] = {}
    for name, blocks in parts.items():
        values = np.concatenate(blocks)
        values = values[np.isfinite(values)]
        if len(values) >= max(2, resamples / 2):
            out[name] = round(float(np.std(values, ddof=1)), 6)
    return out
