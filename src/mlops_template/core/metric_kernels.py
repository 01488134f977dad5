"""What the metric catalogue's computations are written in: weighted rows (numpy only, no scikit-learn).

Every metric is computed on *weighted rows*. A bootstrap resample of ``n`` rows is a vector of counts ``w``
(how often each row was drawn, summing to ``n``); the metric of the resample is the metric of the rows weighted
by ``w``. The metric on the full data is the same computation with ``w`` all ones (one "resample" of every row
once). So each metric is written once, vectorised over a block of weight vectors ``W`` (b, n), and serves the
evaluate stage (one row of ones, float64), the PR comparison's bootstrap and the live-performance monitor:

- :class:`Rows`: one prediction set and its per-row quantities (correct or not, log loss, errors...), each
  computed on first use, in the block's dtype (float32 for bootstrap counts: no upcast copy; float64 for the
  full data);
- :class:`Batch`: a block ``W`` over those rows. A metric reads it: weighted means (``W @ per_row / n``),
  per-class confusion counts, ROC AUC and average precision (the rows grouped by distinct score once; ties
  count one half as in scikit-learn). Sums that several metrics share are computed once per block.

A resample on which a metric is undefined (one class only) gives NaN for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import cached_property
from typing import Any

import numpy as np

EPS64 = float(np.finfo(np.float64).eps)


def safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den``, 0 where ``den`` is 0 (scikit-learn's ``zero_division=0``)."""
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


class Ranked:
    """One score vector grouped by distinct value, for the AUC / average precision of a 0/1 label."""

    def __init__(self, score: np.ndarray, positive: np.ndarray, dtype: Any) -> None:
        self.order, self.group = _groups(score)
        self.n_groups = int(self.group[-1]) + 1 if len(score) else 0
        self.ties = self.n_groups < len(score)
        self.pos = positive[self.order].astype(dtype)

    def sums(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Weighted positives and negatives per distinct score, ascending: (b, groups) each."""
        ws = w[:, self.order]
        pos = ws * self.pos
        if self.ties:
            ws = _group_sums(ws, self.group, self.n_groups)
            pos = _group_sums(pos, self.group, self.n_groups)
        neg = np.subtract(ws, pos, out=ws)
        return pos, neg


def auc_of(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """ROC AUC from the per-score sums: ``sum_u pos_u * (neg_below_u + neg_at_u / 2) / (n_pos * n_neg)``."""
    n_pos, n_neg = pos.sum(axis=1, dtype=np.float64), neg.sum(axis=1, dtype=np.float64)
    below = np.cumsum(neg, axis=1, dtype=np.float64)
    below -= 0.5 * neg  # negatives strictly below, plus half of the tied ones
    num = np.einsum("ij,ij->i", pos, below)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((n_pos > 0) & (n_neg > 0), num / (n_pos * n_neg), np.nan)


def average_precision_of(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """Average precision (scikit-learn's step definition): ``sum_u pos_u / n_pos * precision_at_u``."""
    # at threshold u (predict positive when score >= u): tp/fp = weights at or above u
    n_pos = pos.sum(axis=1, dtype=np.float64)
    tp = n_pos[:, None] - np.cumsum(pos, axis=1, dtype=np.float64) + pos
    predicted = tp + (neg.sum(axis=1, dtype=np.float64)[:, None] - np.cumsum(neg, axis=1, dtype=np.float64) + neg)
    np.divide(tp, predicted, out=tp, where=predicted > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n_pos > 0, np.einsum("ij,ij->i", pos, tp) / n_pos, np.nan)


class Rows:
    """One prediction set: labels, predictions and, for classifiers, the probabilities per class (columns in
    the order of ``classes``; binary: the last class is the positive one). Per-row quantities are computed on
    first use, in ``dtype`` (regression values stay float64: they have no fixed scale)."""

    def __init__(
        self,
        task: str,
        y_true: np.ndarray,
        y_pred: np.ndarray,
        proba: np.ndarray | None = None,
        classes: np.ndarray | None = None,
        dtype: Any = np.float64,
    ) -> None:
        if task != "regression" and (proba is None or classes is None):
            raise ValueError(f"task {task!r}: the metrics need the class probabilities and the classes")
        self.task = task
        self.y_true, self.y_pred = np.asarray(y_true), np.asarray(y_pred)
        self.proba, self.classes = proba, classes
        self.dtype = np.dtype(np.float64 if task == "regression" else dtype)
        self.n = len(self.y_true)
        self._ranked: dict[int, Ranked] = {}

    def _cast(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x).astype(self.dtype)

    # classification
    @cached_property
    def true_k(self) -> np.ndarray:
        """(k, n): 1 where the row's label is class j."""
        assert self.classes is not None
        return self._cast(np.stack([self.y_true == c for c in self.classes]))

    @cached_property
    def pred_k(self) -> np.ndarray:
        """(k, n): 1 where the row's predicted label is class j."""
        assert self.classes is not None
        return self._cast(np.stack([self.y_pred == c for c in self.classes]))

    @cached_property
    def hit_k(self) -> np.ndarray:
        """(k, n): 1 where the row's label and its predicted label are both class j."""
        return self.true_k * self.pred_k

    @cached_property
    def correct(self) -> np.ndarray:
        return self._cast(self.y_true == self.y_pred)

    @cached_property
    def log_loss(self) -> np.ndarray:
        """``-log p(true class)``, the probability clipped to [eps, 1 - eps] (as scikit-learn does)."""
        assert self.proba is not None
        p = np.clip((self.true_k.astype(np.float64).T * self.proba).sum(axis=1), EPS64, 1 - EPS64)
        return self._cast(-np.log(p))

    @cached_property
    def positive(self) -> np.ndarray:
        """Binary: 1 where the label is the positive (last) class."""
        return self.true_k[-1]

    @cached_property
    def positive_score(self) -> np.ndarray:
        """Binary: the probability of the positive (last) class, float64."""
        assert self.proba is not None
        return np.asarray(self.proba[:, -1], dtype=np.float64)

    def ranked(self, j: int) -> Ranked:
        """The rows ranked by the probability of class ``j`` (negative: from the end), against its label."""
        assert self.proba is not None
        j = j % self.proba.shape[1]
        if j not in self._ranked:
            self._ranked[j] = Ranked(np.asarray(self.proba[:, j], dtype=np.float64), self.true_k[j], self.dtype)
        return self._ranked[j]

    # regression
    @cached_property
    def target(self) -> np.ndarray:
        return np.asarray(self.y_true, dtype=np.float64)

    @cached_property
    def error(self) -> np.ndarray:
        """prediction - label."""
        return np.asarray(self.y_pred, dtype=np.float64) - self.target


class Batch:
    """A block of weights ``w`` (b, n) over the rows: what a metric's computation reads. Returns (b,) values.

    Shared sums (the confusion counts, the per-score sums of a class) are computed once per block, however many
    metrics read them."""

    def __init__(self, rows: Rows, w: np.ndarray) -> None:
        if w.ndim != 2 or w.shape[1] != rows.n:
            raise ValueError(f"weights must be (blocks, {rows.n}), got {w.shape}")
        self.rows = rows
        self.w = w if w.dtype == rows.dtype else w.astype(rows.dtype)
        self._memo: dict[Any, Any] = {}

    def memo(self, key: Any, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per block (``key`` names it)."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    @property
    def total(self) -> np.ndarray:
        """The weight of each resample (its row count), float64."""
        out: np.ndarray = self.memo("total", lambda: self.w.sum(axis=1, dtype=np.float64))
        return out

    def sum(self, per_row: np.ndarray) -> np.ndarray:
        """Weighted sum of a per-row quantity (n,) -> (b,); a (k, n) quantity -> (b, k)."""
        x = (per_row.T if per_row.ndim == 2 else per_row).astype(self.w.dtype, copy=False)
        out: np.ndarray = self.w @ x
        return out

    def mean(self, per_row: np.ndarray) -> np.ndarray:
        """Weighted mean of a per-row quantity."""
        with np.errstate(divide="ignore", invalid="ignore"):
            out: np.ndarray = self.sum(per_row) / self.total
        return out

    def confusion(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per class: (true positives, predicted, actual) weighted counts, (b, k) each."""
        r = self.rows

        def compute() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            return self.sum(r.hit_k), self.sum(r.pred_k), self.sum(r.true_k)

        out: tuple[np.ndarray, np.ndarray, np.ndarray] = self.memo("confusion", compute)
        return out

    def per_class(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per class: (precision, recall, F1), (b, k) each, 0 where undefined (``zero_division=0``)."""

        def compute() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            tp, n_pred, n_true = self.confusion()
            return safe_div(tp, n_pred), safe_div(tp, n_true), safe_div(2 * tp, n_pred + n_true)

        out: tuple[np.ndarray, np.ndarray, np.ndarray] = self.memo("per_class", compute)
        return out

    def macro(self, per_class: np.ndarray) -> np.ndarray:
        """Mean over the classes present in the labels or the predictions (scikit-learn's ``average="macro"``)."""
        _, n_pred, n_true = self.confusion()
        present = (n_true + n_pred) > 0
        out: np.ndarray = (per_class * present).sum(axis=1) / present.sum(axis=1)
        return out

    def score_sums(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        """Weighted positives and negatives of class ``j`` per distinct probability of class ``j``."""
        j = j % self.rows.true_k.shape[0]
        out: tuple[np.ndarray, np.ndarray] = self.memo(("ranked", j), lambda: self.rows.ranked(j).sums(self.w))
        return out

    def auc(self, j: int = -1) -> np.ndarray:
        """ROC AUC of class ``j`` against the rest, scored by its probability (binary: the positive class)."""
        return auc_of(*self.score_sums(j))

    def average_precision(self, j: int = -1) -> np.ndarray:
        """Average precision of class ``j`` (binary: the positive class)."""
        return average_precision_of(*self.score_sums(j))


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
