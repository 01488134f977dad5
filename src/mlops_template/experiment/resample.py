"""Every metric of a task on many bootstrap resamples at once (pure numpy, no per-resample Python loop).

A bootstrap resample of ``n`` rows is a vector of counts ``w`` (how often each row was drawn, summing to
``n``). A metric of the resample is the metric of the rows weighted by ``w``, so a block of resamples is a
``(B, n)`` count matrix, and each metric of the catalogue (:mod:`~mlops_template.core.metric_catalogue`) is
computed on it by the same vectorised code that gives its value on the full data
(:mod:`~mlops_template.core.metric_kernels` says how). The counts are float32 (exact up to 2**24 rows per
resample) and so are the per-row quantities of classifiers: no upcast copy of the block.

A resample on which a metric is undefined (one class only) gives NaN for it.
"""

from __future__ import annotations

import numpy as np

from mlops_template.core.config import TaskType
from mlops_template.core.metric_catalogue import compute_all
from mlops_template.core.metric_kernels import Rows
from mlops_template.core.metrics import Predictions


class ResampledMetrics:
    """All metrics of one prediction set (or just those in ``only``), on blocks of bootstrap counts."""

    def __init__(self, task: TaskType, p: Predictions, only: frozenset[str] | None = None) -> None:
        self.task = task
        self.only = only  # compute just these (the rank-based ones are the expensive part)
        self.rows = Rows(task, p.y_true, p.y_pred, p.proba, p.classes, dtype=np.float32)
        self.n = self.rows.n

    def __call__(self, w: np.ndarray) -> dict[str, np.ndarray]:
        """Metric name -> values for each row of the count matrix ``w`` (b, n)."""
        return compute_all(self.rows, w, self.only)
