"""Metrics per task, as pure functions of labels and scores."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.pipeline import Pipeline

from mlops_template.core.config import TaskType


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
    """All metrics of the task, rounded to 6 digits so reruns compare exactly."""
    out: dict[str, float]
    if task == "regression":
        out = {
            "rmse": float(np.sqrt(skm.mean_squared_error(y_true, y_pred))),
            "mae": float(skm.mean_absolute_error(y_true, y_pred)),
            "r2": float(skm.r2_score(y_true, y_pred)),
        }
    elif task == "binary":
        assert proba is not None and classes is not None
        pos = classes[-1]
        score = proba[:, -1]
        y_bin = (y_true == pos).astype(int)
        out = {
            "roc_auc": float(skm.roc_auc_score(y_bin, score)),
            "pr_auc": float(skm.average_precision_score(y_bin, score)),
            "f1": float(skm.f1_score(y_true, y_pred, pos_label=pos, zero_division=0)),
            "precision": float(skm.precision_score(y_true, y_pred, pos_label=pos, zero_division=0)),
            "recall": float(skm.recall_score(y_true, y_pred, pos_label=pos, zero_division=0)),
            "accuracy": float(skm.accuracy_score(y_true, y_pred)),
            "log_loss": float(skm.log_loss(y_true, proba, labels=classes)),
            "brier": float(skm.brier_score_loss(y_bin, score)),
        }
    else:
        assert proba is not None and classes is not None
        out = {
            "accuracy": float(skm.accuracy_score(y_true, y_pred)),
            "f1_macro": float(skm.f1_score(y_true, y_pred, average="macro", zero_division=0)),
            "precision_macro": float(skm.precision_score(y_true, y_pred, average="macro", zero_division=0)),
            "recall_macro": float(skm.recall_score(y_true, y_pred, average="macro", zero_division=0)),
            "log_loss": float(skm.log_loss(y_true, proba, labels=classes)),
        }
        if len(np.unique(y_true)) == len(classes):
            out["roc_auc_ovr"] = float(skm.roc_auc_score(y_true, proba, multi_class="ovr", labels=classes))
    return {k: round(v, 6) for k, v in out.items()}


def metrics_of(task: TaskType, p: Predictions) -> dict[str, float]:
    return compute_metrics(task, p.y_true, p.y_pred, p.proba, p.classes)
