"""Out-of-fold predictions of repeated k-fold cross-validation (pure logic: frames in, predictions out).

The PR comparison runs this for both models on the same rows and the same folds: the candidate in-process,
the baseline with the base branch's code and params in a git worktree (``python -m mlops_template.cli
cv-predict``). Every row is then predicted once per repetition by a model that did not see it, so on small
data the comparison uses all rows instead of the 20% test split, and averaging the repetitions removes most
of the noise of one particular fold assignment. The folds depend only on the rows (sorted by id), their
labels and the seed passed in, never on the model, so both sides get the same folds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import RepeatedKFold, RepeatedStratifiedKFold

from mlops_template.core.config import CrossValidationParams, Params
from mlops_template.core.data.schema import SchemaSpec
from mlops_template.core.metrics import Predictions, predict
from mlops_template.core.model import build_pipeline


def cv_applies(rows: int, cv: CrossValidationParams) -> bool:
    """Cross-validate when the data is small enough (``compare.cross_validation.max_rows``; 0 = never)."""
    return 0 < rows <= cv.max_rows


def sort_rows(frame: pd.DataFrame, id_column: str) -> pd.DataFrame:
    """A canonical row order (by id), so that both sides build the same folds from the same rows."""
    if id_column in frame:
        return frame.sort_values(id_column, kind="mergesort").reset_index(drop=True)
    return frame.reset_index(drop=True)


def oof_predictions(
    params: Params, spec: SchemaSpec, frame: pd.DataFrame, folds: int, repeats: int, seed: int
) -> list[Predictions]:
    """One out-of-fold prediction set per repetition, rows in the order of ``frame``."""
    d = params.data
    y = frame[d.target].to_numpy()
    classification = params.task != "regression"
    splitter = (
        RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
        if classification
        else RepeatedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    )
    features = spec.feature_columns(d.target, d.id_column)
    classes = np.unique(y) if classification else None
    n = len(frame)
    ids = frame[d.id_column].to_numpy() if d.id_column in frame else np.arange(n)
    runs: list[Predictions] = []
    y_pred = np.empty(n, dtype=y.dtype)
    proba = np.zeros((n, len(classes))) if classes is not None else None
    for i, (train_idx, test_idx) in enumerate(splitter.split(frame, y if classification else None)):
        model = build_pipeline(params, spec)
        model.fit(frame.iloc[train_idx][features], y[train_idx])
        p = predict(model, frame.iloc[test_idx], d.target, d.id_column, params.evaluate.threshold)
        y_pred[test_idx] = p.y_pred
        if proba is not None and p.proba is not None and p.classes is not None and classes is not None:
            cols = np.searchsorted(classes, p.classes)  # a class missing from a training fold gets 0
            proba[np.ix_(test_idx, cols)] = p.proba
        if (i + 1) % folds == 0:
            runs.append(Predictions(ids, y, y_pred.copy(), None if proba is None else proba.copy(), classes))
    return runs


def save_oof(runs: list[Predictions], path: Path) -> None:
    """Write out-of-fold predictions as a plain .npz (no pickle: labels become numbers or strings)."""
    first = runs[0]
    arrays: dict[str, np.ndarray] = {
        "ids": np.asarray(first.ids.tolist()),
        "y_true": np.asarray(first.y_true.tolist()),
        "y_pred": np.stack([np.asarray(r.y_pred.tolist()) for r in runs]),
    }
    if first.proba is not None and first.classes is not None:
        arrays["proba"] = np.stack([r.proba for r in runs if r.proba is not None])
        arrays["classes"] = np.asarray(first.classes.tolist())
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        np.savez(fh, **arrays)  # type: ignore[arg-type]  # numpy stubs type **kwds as allow_pickle


def load_oof(path: Path) -> list[Predictions]:
    with np.load(path, allow_pickle=False) as z:
        proba = z.get("proba", None)
        classes = z.get("classes", None)
        return [
            Predictions(z["ids"], z["y_true"], z["y_pred"][r], None if proba is None else proba[r], classes)
            for r in range(z["y_pred"].shape[0])
        ]


def write_oof(params: Params, spec: SchemaSpec, data: Path, folds: int, repeats: int, seed: int, out: Path) -> None:
    """``cli cv-predict``: out-of-fold predictions of ``params``' model config on the rows in ``data`` (put in
    id order), written to ``out``."""
    frame = sort_rows(pd.read_parquet(data), params.data.id_column)
    save_oof(oof_predictions(params, spec, frame, folds, repeats, seed), out)
