"""Plot data (CSV files that ``dvc plots`` renders) and PNG images (matplotlib, no vega needed).

The PNG helpers take several labelled prediction sets so the pull-request report can overlay
the baseline and the candidate with the same code.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from mlops_template.core.config import TaskType
from mlops_template.core.metrics import Predictions

_PNG_META = {"Software": None}  # no version string: identical inputs give identical bytes


def _binary_target(p: Predictions) -> np.ndarray:
    assert p.classes is not None
    return (p.y_true == p.classes[-1]).astype(int)


def plot_data(task: TaskType, p: Predictions, calibration_bins: int = 10) -> dict[str, pd.DataFrame]:
    """Plot tables by file stem, as DVC plots read them."""
    tables: dict[str, pd.DataFrame] = {
        "confusion": pd.DataFrame({"actual": p.y_true, "predicted": p.y_pred}),
    }
    if task == "binary":
        y = _binary_target(p)
        fpr, tpr, _ = skm.roc_curve(y, p.positive_score)
        precision, recall, _ = skm.precision_recall_curve(y, p.positive_score)
        frac_pos, mean_pred = calibration_curve(y, p.positive_score, n_bins=calibration_bins)
        tables["roc"] = pd.DataFrame({"fpr": fpr, "tpr": tpr}).round(6)
        tables["pr"] = pd.DataFrame({"recall": recall, "precision": precision}).round(6)
        tables["calibration"] = pd.DataFrame({"mean_predicted": mean_pred, "fraction_positive": frac_pos}).round(6)
    elif task == "regression":
        del tables["confusion"]
        tables["residuals"] = pd.DataFrame(
            {"predicted": p.y_pred.astype(float), "residual": (p.y_true - p.y_pred).astype(float)}
        ).round(6)
    return tables


def _save(fig: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata=_PNG_META)
    plt.close(fig)
    return path


def roc_png(runs: Mapping[str, Predictions], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(5, 4.5))
    for name, p in runs.items():
        y = _binary_target(p)
        fpr, tpr, _ = skm.roc_curve(y, p.positive_score)
        ax.plot(fpr, tpr, label=f"{name} (AUC {skm.roc_auc_score(y, p.positive_score):.3f})")
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=0.8)
    ax.set(xlabel="False positive rate", ylabel="True positive rate", title="ROC curve")
    ax.legend(loc="lower right")
    return _save(fig, path)


def pr_png(runs: Mapping[str, Predictions], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(5, 4.5))
    for name, p in runs.items():
        y = _binary_target(p)
        precision, recall, _ = skm.precision_recall_curve(y, p.positive_score)
        ax.plot(recall, precision, label=f"{name} (AP {skm.average_precision_score(y, p.positive_score):.3f})")
    ax.set(xlabel="Recall", ylabel="Precision", title="Precision-recall curve")
    ax.legend(loc="lower left")
    return _save(fig, path)


def calibration_png(runs: Mapping[str, Predictions], path: Path, bins: int = 10) -> Path:
    fig, ax = plt.subplots(figsize=(5, 4.5))
    for name, p in runs.items():
        frac_pos, mean_pred = calibration_curve(_binary_target(p), p.positive_score, n_bins=bins)
        ax.plot(mean_pred, frac_pos, marker="o", label=name)
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=0.8)
    ax.set(xlabel="Mean predicted probability", ylabel="Fraction of positives", title="Calibration")
    ax.legend(loc="upper left")
    return _save(fig, path)


def confusion_png(p: Predictions, path: Path, title: str = "Confusion matrix") -> Path:
    labels = p.classes if p.classes is not None else np.unique(np.concatenate([p.y_true, p.y_pred]))
    cm = skm.confusion_matrix(p.y_true, p.y_pred, labels=labels)
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.imshow(cm, cmap="Blues")
    for (i, j), v in np.ndenumerate(cm):
        ax.text(j, i, str(v), ha="center", va="center", color="white" if v > cm.max() / 2 else "black")
    ax.set_xticks(range(len(labels)), [str(lbl) for lbl in labels])
    ax.set_yticks(range(len(labels)), [str(lbl) for lbl in labels])
    ax.set(xlabel="Predicted", ylabel="Actual", title=title)
    return _save(fig, path)


def residuals_png(runs: Mapping[str, Predictions], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(5, 4.5))
    for name, p in runs.items():
        ax.scatter(p.y_pred, p.y_true - p.y_pred, s=10, alpha=0.6, label=name)
    ax.axhline(0, c="grey", lw=0.8, ls="--")
    ax.set(xlabel="Predicted", ylabel="Residual (actual - predicted)", title="Residuals")
    ax.legend(loc="upper right")
    return _save(fig, path)


def write_plots(task: TaskType, p: Predictions, out_dir: Path, calibration_bins: int = 10) -> list[Path]:
    """Write the plot data files and the PNG images of one model; return every path written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for stem, table in plot_data(task, p, calibration_bins).items():
        path = out_dir / f"{stem}.csv"
        table.to_csv(path, index=False)
        written.append(path)
    runs = {"model": p}
    if task == "binary":
        written += [
            roc_png(runs, out_dir / "roc.png"),
            pr_png(runs, out_dir / "pr.png"),
            calibration_png(runs, out_dir / "calibration.png", calibration_bins),
        ]
    if task == "regression":
        written.append(residuals_png(runs, out_dir / "residuals.png"))
    else:
        written.append(confusion_png(p, out_dir / "confusion.png"))
    return written
