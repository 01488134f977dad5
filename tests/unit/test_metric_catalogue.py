"""Every metric of the catalogue against scikit-learn, the oracle, on random data: on the full data (what the
evaluate stage writes) and on bootstrap resamples (what the PR comparison and the monitor use), which are one
computation (core/metric_catalogue.py). A metric added to the catalogue needs an oracle here."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from sklearn import metrics as skm

from mlops_template.core.metric_catalogue import (
    CATALOGUE,
    DEFAULT_MARGINS,
    HIGHER_IS_BETTER,
    RELATIVE_MARGINS,
    Metric,
    compute_all,
    metrics_of_task,
    register,
)
from mlops_template.core.metric_kernels import Rows, resample_counts
from mlops_template.core.metrics import Predictions, compute_metrics
from mlops_template.experiment.resample import ResampledMetrics
from tests.support import REPO_ROOT

Oracle = Callable[[np.ndarray, np.ndarray, Any, Any], float]


def _binary(fn: Callable[..., float], **kw: Any) -> Oracle:
    """A scikit-learn metric of (label is the positive class, probability of the positive class)."""
    return lambda y, pred, proba, classes: fn(y == classes[-1], proba[:, -1], **kw)


def _labels(fn: Callable[..., float], **kw: Any) -> Oracle:
    return lambda y, pred, proba, classes: fn(y, pred, **kw)


ORACLE: dict[str, Oracle] = {
    "roc_auc": _binary(skm.roc_auc_score),
    "pr_auc": _binary(skm.average_precision_score),
    "brier": _binary(skm.brier_score_loss),
    "f1": lambda y, pred, proba, classes: skm.f1_score(y, pred, pos_label=classes[-1], zero_division=0),
    "precision": lambda y, pred, proba, classes: skm.precision_score(y, pred, pos_label=classes[-1], zero_division=0),
    "recall": lambda y, pred, proba, classes: skm.recall_score(y, pred, pos_label=classes[-1], zero_division=0),
    "accuracy": _labels(skm.accuracy_score),
    "log_loss": lambda y, pred, proba, classes: skm.log_loss(y, y_proba=proba, labels=classes),
    "f1_macro": _labels(skm.f1_score, average="macro", zero_division=0),
    "precision_macro": _labels(skm.precision_score, average="macro", zero_division=0),
    "recall_macro": _labels(skm.recall_score, average="macro", zero_division=0),
    "roc_auc_ovr": lambda y, pred, proba, classes: skm.roc_auc_score(y, proba, multi_class="ovr", labels=classes),
    "rmse": lambda y, pred, proba, classes: np.sqrt(skm.mean_squared_error(y, pred)),
    "mae": _labels(skm.mean_absolute_error),
    "r2": _labels(skm.r2_score),
}


def random_predictions(task: str, n: int, rng: np.random.Generator, k: int = 3) -> Predictions:
    """Random labels and scores; classifier scores rounded to one decimal, so many rows tie."""
    if task == "regression":
        y = rng.normal(150.0, 60.0, n)  # an offset and a scale, as real targets have
        return Predictions(np.arange(n), y, y + rng.normal(0, 40.0, n), None, None)
    k = 2 if task == "binary" else k
    classes = np.array(["no", "yes"]) if task == "binary" else np.arange(k) * 10
    y = rng.integers(0, k, n)
    logits = np.round(rng.normal(size=(n, k)), 1)  # rounded: ties in the scores
    logits[np.arange(n), y] += 1
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    pred = (proba[:, 1] >= 0.5).astype(int) if task == "binary" else proba.argmax(axis=1)
    return Predictions(np.arange(n), classes[y], classes[pred], proba, classes)


def oracle_values(task: str, p: Predictions, idx: np.ndarray | None = None) -> dict[str, float]:
    idx = np.arange(len(p.y_true)) if idx is None else idx
    proba = None if p.proba is None else p.proba[idx]
    return {
        m.name: float(ORACLE[m.name](p.y_true[idx], p.y_pred[idx], proba, p.classes)) for m in metrics_of_task(task)
    }


def test_every_metric_of_the_catalogue_has_an_oracle() -> None:
    assert set(CATALOGUE) <= set(ORACLE), f"add a scikit-learn oracle for {sorted(set(CATALOGUE) - set(ORACLE))}"


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_full_data_metrics_equal_scikit_learn(task: str, seed: int) -> None:
    p = random_predictions(task, 97 + 50 * seed, np.random.default_rng(seed))
    rows = Rows(task, p.y_true, p.y_pred, p.proba, p.classes)
    ours = {k: float(v[0]) for k, v in compute_all(rows, np.ones((1, rows.n))).items()}
    expected = oracle_values(task, p)
    assert ours.keys() == expected.keys()
    for name, value in expected.items():
        assert ours[name] == pytest.approx(value, rel=1e-12, abs=1e-12), name
    # what the evaluate stage writes: the same, rounded to 6 digits
    assert compute_metrics(task, p.y_true, p.y_pred, p.proba, p.classes) == {k: round(v, 6) for k, v in ours.items()}


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_resampled_metrics_equal_scikit_learn_on_the_expanded_rows(task: str) -> None:
    """Each resample (float32 counts, as the comparison draws them) against scikit-learn on the rows it drew."""
    p = random_predictions(task, 150, np.random.default_rng(3))
    counts = next(resample_counts(150, 8, seed=4))
    fast = ResampledMetrics(task, p)(counts)  # type: ignore[arg-type]
    exact = compute_all(Rows(task, p.y_true, p.y_pred, p.proba, p.classes), counts.astype(np.float64))
    for b, w in enumerate(counts.astype(int)):
        expected = oracle_values(task, p, np.repeat(np.arange(150), w))
        assert set(fast) == set(expected)
        for name, value in expected.items():
            assert exact[name][b] == pytest.approx(value, rel=1e-12, abs=1e-12), (name, b)  # float64 weights
            assert fast[name][b] == pytest.approx(value, rel=1e-6, abs=1e-7), (name, b)  # float32 per-row values


def test_undefined_metrics_are_left_out_not_guessed() -> None:
    """One class only: no ROC AUC (scikit-learn raises); a class missing from a multiclass test set: no OvR AUC."""
    rng = np.random.default_rng(0)
    p = random_predictions("binary", 40, rng)
    yes = np.full(40, "yes")
    single = compute_metrics("binary", yes, p.y_pred, p.proba, p.classes)
    assert "roc_auc" not in single and "pr_auc" in single
    assert single["recall"] == pytest.approx(ORACLE["recall"](yes, p.y_pred, p.proba, p.classes), abs=1e-6)
    m = random_predictions("multiclass", 60, rng, k=4)
    y = np.where(m.y_true == 30, 0, m.y_true)  # class 30 never occurs
    values = compute_metrics("multiclass", y, m.y_pred, m.proba, m.classes)
    assert "roc_auc_ovr" not in values
    assert values["f1_macro"] == pytest.approx(skm.f1_score(y, m.y_pred, average="macro", zero_division=0), abs=1e-6)


def test_views_and_registration_follow_the_catalogue() -> None:
    assert HIGHER_IS_BETTER["log_loss"] is False and HIGHER_IS_BETTER["roc_auc"] is True
    assert DEFAULT_MARGINS["roc_auc"] == 0.005 and "rmse" not in DEFAULT_MARGINS and RELATIVE_MARGINS["rmse"] == 0.01
    assert set(DEFAULT_MARGINS) | set(RELATIVE_MARGINS) == set(CATALOGUE) == set(HIGHER_IS_BETTER)
    with pytest.raises(ValueError, match="'accuracy': already in the catalogue"):
        register(Metric("accuracy", ("binary",), True, 0.01, lambda b: b.mean(b.rows.correct)))
    with pytest.raises(ValueError, match=r"tasks \('ranking',\) must be among"):
        register(Metric("new", ("ranking",), True, 0.01, lambda b: b.mean(b.rows.correct)))
    with pytest.raises(ValueError, match="margin -1 must be >= 0"):
        register(Metric("new", ("binary",), True, -1, lambda b: b.mean(b.rows.correct)))
    assert "new" not in CATALOGUE


def test_the_params_loader_imports_no_scikit_learn() -> None:
    """config imports the metric catalogue and the estimator registry: both must stay light."""
    code = (
        "import sys; sys.modules['sklearn'] = None\n"  # any `import sklearn` now raises
        "from mlops_template.core.config import parse_params\n"
        "parse_params({'compare': {'primary_metric': 'pr_auc'}, 'model': {'type': 'random_forest'}})\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_the_probabilities_flag_says_which_metrics_read_more_than_the_labels(task: str) -> None:
    """Other probabilities with the same predicted labels move exactly the metrics flagged ``probabilities``
    (the live monitors cannot score those on multiclass logs, which keep the top probability only)."""
    rng = np.random.default_rng(6)
    p = random_predictions(task, 200, rng)
    assert p.proba is not None
    sharper = p.proba**3 / (p.proba**3).sum(axis=1, keepdims=True)  # same ranking within each row
    if task == "binary":  # a monotone change would keep ROC AUC: jitter the rows' order too
        sharper = np.clip(p.proba + rng.uniform(-0.05, 0.05, (200, 1)) * [[-1, 1]], 0.0, 1.0)
    before = compute_metrics(task, p.y_true, p.y_pred, p.proba, p.classes)
    after = compute_metrics(task, p.y_true, p.y_pred, sharper, p.classes)
    moved = {name for name in before if before[name] != after[name]}
    assert moved == {m.name for m in metrics_of_task(task) if m.probabilities}
