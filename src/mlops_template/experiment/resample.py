"""Every metric of a task on many bootstrap resamples at once (pure numpy, no per-resample Python loop).

A bootstrap resample of ``n`` rows is a vector of counts ``w`` (how often each row was drawn, summing to
``n``). A metric of the resample is the metric of the rows weighted by ``w``, so a block of resamples is a
``(B, n)`` count matrix and each metric is a handful of matrix operations on it:

- mean-type metrics (accuracy, log loss, Brier, MAE, RMSE, R²): ``W @ per_row / n``;
- ROC AUC (rank-based, ties count one half): the rows are grouped by distinct score once; per resample,
  ``sum_u pos_u * (neg_below_u + neg_at_u / 2) / (n_pos * n_neg)`` with cumulative sums over the groups;
- average precision: the same groups, ``sum_u pos_u / n_pos * precision_at_u`` (sklearn's step definition);
- precision / recall / F1 (binary and macro): weighted confusion counts per class.

The values equal :func:`~mlops_template.core.metrics.compute_metrics` on the expanded rows (a unit test
checks it); a resample on which a metric is undefined (one class only) gives NaN for it.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from mlops_template.core.config import TaskType
from mlops_template.core.metrics import Predictions

EPS = np.finfo(np.float64).eps


def resample_counts(n: int, resamples: int, seed: int, block: int = 0) -> Iterator[np.ndarray]:
    """Blocks of bootstrap count matrices ``(b, n)`` (rows drawn with replacement), seeded, ~8M cells each."""
    rng = np.random.default_rng(seed)
    block = block or max(1, min(resamples, 4_000_000 // max(n, 1)))
    done = 0
    while done < resamples:
        b = min(block, resamples - done)
        idx = rng.integers(0, n, (b, n)) + (np.arange(b) * n)[:, None]
        yield np.bincount(idx.ravel(), minlength=b * n).reshape(b, n).astype(np.float32)
        done += b


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)


def _groups(score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort order of the rows and the group (distinct score) index of each sorted row, ascending."""
    order = np.argsort(score, kind="mergesort")
    s = score[order]
    group = np.concatenate([[0], np.cumsum(s[1:] != s[:-1])])
    return order, group


def _group_sums(w_sorted: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """Sum the columns of ``w_sorted`` (b, n) within each group -> (b, n_groups)."""
    starts = np.flatnonzero(np.concatenate([[True], group[1:] != group[:-1]]))
    out: np.ndarray = np.add.reduceat(w_sorted, starts, axis=1) if w_sorted.shape[1] else np.zeros((len(w_sorted), 0))
    assert out.shape[1] == n_groups
    return out


class _Ranked:
    """Precomputed grouping of one score vector for AUC / average precision of a 0/1 label."""

    def __init__(self, score: np.ndarray, positive: np.ndarray) -> None:
        self.order, self.group = _groups(score)
        self.n_groups = int(self.group[-1]) + 1 if len(score) else 0
        self.ties = self.n_groups < len(score)
        self.pos = positive[self.order].astype(np.float32)

    def sums(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Weighted positives and negatives per distinct score, ascending: computed once per block of weights
        and passed to :func:`_auc` and :func:`_average_precision` (no cache: one keyed on ``id(w)`` handed a
        new block, placed at a freed block's address, the old block's sums)."""
        ws = w[:, self.order]
        pos = ws * self.pos
        if self.ties:
            ws = _group_sums(ws, self.group, self.n_groups)
            pos = _group_sums(pos, self.group, self.n_groups)
        neg = np.subtract(ws, pos, out=ws)
        return pos, neg


def _auc(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    n_pos, n_neg = pos.sum(axis=1, dtype=np.float64), neg.sum(axis=1, dtype=np.float64)
    below = np.cumsum(neg, axis=1, dtype=np.float64)
    below -= 0.5 * neg  # negatives strictly below, plus half of the tied ones
    num = np.einsum("ij,ij->i", pos, below)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((n_pos > 0) & (n_neg > 0), num / (n_pos * n_neg), np.nan)


def _average_precision(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    # at threshold u (predict positive when score >= u): tp/fp = weights at or above u
    n_pos = pos.sum(axis=1, dtype=np.float64)
    tp = n_pos[:, None] - np.cumsum(pos, axis=1, dtype=np.float64) + pos
    predicted = tp + (neg.sum(axis=1, dtype=np.float64)[:, None] - np.cumsum(neg, axis=1, dtype=np.float64) + neg)
    np.divide(tp, predicted, out=tp, where=predicted > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n_pos > 0, np.einsum("ij,ij->i", pos, tp) / n_pos, np.nan)


def _prf(tp: np.ndarray, n_pred: np.ndarray, n_true: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    precision = _safe_div(tp, n_pred)
    recall = _safe_div(tp, n_true)
    f1 = _safe_div(2 * tp, n_pred + n_true)
    return precision, recall, f1


def _row_log_loss(p: Predictions) -> np.ndarray:
    assert p.proba is not None and p.classes is not None
    proba = np.clip(p.proba / p.proba.sum(axis=1, keepdims=True), EPS, 1 - EPS)
    col = np.searchsorted(p.classes, p.y_true) if np.all(p.classes[:-1] <= p.classes[1:]) else None
    if col is None:
        col = np.array([int(np.flatnonzero(p.classes == y)[0]) for y in p.y_true])
    return -np.log(proba[np.arange(len(col)), col])


class ResampledMetrics:
    """All metrics of one prediction set, evaluated on blocks of bootstrap counts (see the module doc)."""

    def __init__(self, task: TaskType, p: Predictions, only: frozenset[str] | None = None) -> None:
        self.task = task
        self.only = only  # compute just these (the rank-based ones are the expensive part)
        self.n = len(p.y_true)
        if task == "regression":
            y, f = p.y_true.astype(np.float64), p.y_pred.astype(np.float64)
            self.err2, self.abs_err, self.y, self.y2 = (y - f) ** 2, np.abs(y - f), y, y * y
            return  # regression stays float64: squared errors and values have no fixed scale
        assert p.proba is not None and p.classes is not None
        self.correct = (p.y_true == p.y_pred).astype(np.float32)  # float32 like the counts: no upcast copy
        self.row_log_loss = _row_log_loss(p).astype(np.float32)
        if task == "binary":
            pos = p.classes[-1]
            self.y_bin = (p.y_true == pos).astype(np.float32)
            self.pred_pos = (p.y_pred == pos).astype(np.float32)
            self.tp = self.y_bin * self.pred_pos
            score = p.proba[:, -1].astype(np.float64)
            self.sq = ((self.y_bin - score) ** 2).astype(np.float32)
            self.ranked = _Ranked(score, self.y_bin)
        else:
            self.true_k = np.stack([(p.y_true == c) for c in p.classes]).astype(np.float32)  # (k, n)
            self.pred_k = np.stack([(p.y_pred == c) for c in p.classes]).astype(np.float32)
            self.ranked_k = [_Ranked(p.proba[:, j].astype(np.float64), self.true_k[j]) for j in range(len(p.classes))]

    def __call__(self, w: np.ndarray) -> dict[str, np.ndarray]:
        """Metric name -> values for each row of the count matrix ``w`` (b, n)."""
        total = w.sum(axis=1, dtype=np.float64)
        if self.task == "regression":
            w = w.astype(np.float64)
            sse = w @ self.err2
            mean_y = (w @ self.y) / total
            sst = w @ self.y2 - total * mean_y**2
            with np.errstate(divide="ignore", invalid="ignore"):
                r2 = np.where(sst > 0, 1.0 - sse / sst, np.nan)
            return {"rmse": np.sqrt(sse / total), "mae": (w @ self.abs_err) / total, "r2": r2}
        out = {"accuracy": (w @ self.correct) / total, "log_loss": (w @ self.row_log_loss) / total}
        if self.task == "binary":
            tp = w @ self.tp
            precision, recall, f1 = _prf(tp, w @ self.pred_pos, w @ self.y_bin)
            nan = np.full(len(w), np.nan)
            ranked = self.ranked.sums(w) if self._wanted("roc_auc") or self._wanted("pr_auc") else None
            out.update(
                roc_auc=_auc(*ranked) if ranked is not None and self._wanted("roc_auc") else nan,
                pr_auc=_average_precision(*ranked) if ranked is not None and self._wanted("pr_auc") else nan,
                f1=f1,
                precision=precision,
                recall=recall,
                brier=(w @ self.sq) / total,
            )
            return out
        n_true = w @ self.true_k.T  # (b, k)
        n_pred = w @ self.pred_k.T
        tp = w @ (self.true_k * self.pred_k).T
        precision, recall, f1 = _prf(tp, n_pred, n_true)
        present = (n_true + n_pred) > 0  # sklearn averages over the labels present in y_true or y_pred

        def macro(x: np.ndarray) -> np.ndarray:
            return (x * present).sum(axis=1) / present.sum(axis=1)

        out.update(f1_macro=macro(f1), precision_macro=macro(precision), recall_macro=macro(recall))
        if self._wanted("roc_auc_ovr"):
            aucs = np.stack([_auc(*r.sums(w)) for r in self.ranked_k], axis=1)
            out["roc_auc_ovr"] = aucs.mean(axis=1)  # NaN when a class is missing from the resample
        return out

    def _wanted(self, name: str) -> bool:
        return self.only is None or name in self.only
