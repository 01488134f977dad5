"""The metric catalogue: every metric in ONE entry: its name, tasks, direction, default practical margin and
its computation.

The computation is written once, vectorised over a block of row weights (:mod:`metric_kernels`): the evaluate
and train stages run it on the full data (one row of ones, :func:`~mlops_template.core.metrics.compute_metrics`),
the PR comparison and the live-performance monitor on bootstrap resamples
(:class:`~mlops_template.experiment.resample.ResampledMetrics`), and the policy and the params loader read the
direction, the margin and the names from here. So a new metric is one entry (``docs/fork.md``); the unit tests
check every entry against scikit-learn on random data.

Needs numpy only (no scikit-learn, no config): the params loader imports it to check metric names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from mlops_template.core.metric_kernels import Batch, Rows

TASKS = ("binary", "multiclass", "regression")
# a block of weighted rows -> one value per resample (NaN where the metric is undefined on it)
Compute = Callable[[Batch], np.ndarray]


@dataclass(frozen=True)
class Metric:
    """One metric. ``margin`` is the change that matters (in metric units, or a fraction of the baseline's
    value when ``relative``); ``params.yaml`` ``compare.margins`` overrides it. ``compute`` gives the metric of
    each weight vector of a :class:`~mlops_template.core.metric_kernels.Batch`. ``probabilities``: it reads the
    class probabilities, not only the predicted labels (a multiclass prediction log keeps the top probability
    only, so the live monitors cannot score it there). ``points``: on a 0..1 scale, so the PR report also states
    a change in points."""

    name: str
    tasks: tuple[str, ...]
    higher_is_better: bool
    margin: float
    compute: Compute
    relative: bool = False
    probabilities: bool = False
    points: bool = True


def _r2(b: Batch) -> np.ndarray:
    y = b.rows.target - b.rows.target.mean()  # centred once: the weighted sums below keep their digits
    sst = b.sum(y * y) - b.total * b.mean(y) ** 2
    sse = b.sum(b.rows.error**2)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sst > 0, 1.0 - sse / sst, np.nan)


def _roc_auc_ovr(b: Batch) -> np.ndarray:
    """Macro mean of each class against the rest; NaN when a class is missing from the resample."""
    return np.mean([b.auc(j) for j in range(len(b.rows.true_k))], axis=0)


def _log_loss(b: Batch) -> np.ndarray:
    return b.mean(b.rows.log_loss)


def _brier(b: Batch) -> np.ndarray:
    return b.mean((b.rows.positive - b.rows.positive_score) ** 2)


def _rmse(b: Batch) -> np.ndarray:
    return np.sqrt(b.mean(b.rows.error**2))


def _mae(b: Batch) -> np.ndarray:
    return b.mean(np.abs(b.rows.error))


CLASSIFICATION = ("binary", "multiclass")
# Half a point for the ranking/probability metrics (0.005); one point for threshold metrics, which move in
# steps of one row on small test sets; 1% of the baseline for scale-dependent ones.
# b.per_class() is (precision, recall, F1) per class; binary metrics read the positive (last) class.
CATALOGUE: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("roc_auc", ("binary",), True, 0.005, lambda b: b.auc(), probabilities=True),
        Metric("pr_auc", ("binary",), True, 0.005, lambda b: b.average_precision(), probabilities=True),
        Metric("f1", ("binary",), True, 0.01, lambda b: b.per_class()[2][:, -1]),
        Metric("precision", ("binary",), True, 0.01, lambda b: b.per_class()[0][:, -1]),
        Metric("recall", ("binary",), True, 0.01, lambda b: b.per_class()[1][:, -1]),
        Metric("accuracy", CLASSIFICATION, True, 0.01, lambda b: b.mean(b.rows.correct)),
        Metric("log_loss", CLASSIFICATION, False, 0.01, _log_loss, probabilities=True, points=False),
        Metric("brier", ("binary",), False, 0.005, _brier, probabilities=True),
        Metric("f1_macro", ("multiclass",), True, 0.01, lambda b: b.macro(b.per_class()[2])),
        Metric("precision_macro", ("multiclass",), True, 0.01, lambda b: b.macro(b.per_class()[0])),
        Metric("recall_macro", ("multiclass",), True, 0.01, lambda b: b.macro(b.per_class()[1])),
        Metric("roc_auc_ovr", ("multiclass",), True, 0.005, _roc_auc_ovr, probabilities=True),
        Metric("rmse", ("regression",), False, 0.01, _rmse, relative=True, points=False),
        Metric("mae", ("regression",), False, 0.01, _mae, relative=True, points=False),
        Metric("r2", ("regression",), True, 0.005, _r2),
    )
}

DEFAULT_PRIMARY_METRIC: dict[str, str] = {"binary": "roc_auc", "multiclass": "f1_macro", "regression": "rmse"}


def register(metric: Metric) -> Metric:
    """Add a metric at run time (a fork's own module, a test); an entry of :data:`CATALOGUE` is the same."""
    problems = []
    if metric.name in CATALOGUE:
        problems.append("already in the catalogue")
    if not metric.tasks or any(t not in TASKS for t in metric.tasks):
        problems.append(f"tasks {metric.tasks} must be among {TASKS}")
    if metric.margin < 0:
        problems.append(f"margin {metric.margin} must be >= 0")
    if problems:
        raise ValueError(f"metric {metric.name!r}: {'; '.join(problems)}")
    CATALOGUE[metric.name] = metric
    return metric


def metrics_of_task(task: str) -> list[Metric]:
    """The catalogue's metrics of a task, in catalogue order."""
    return [m for m in CATALOGUE.values() if task in m.tasks]


def compute_all(rows: Rows, w: np.ndarray, only: frozenset[str] | None = None) -> dict[str, np.ndarray]:
    """Metric name -> its value on each weight vector of ``w`` (b, n), for every metric of the rows' task (or
    just those in ``only``)."""
    batch = Batch(rows, w)
    return {m.name: m.compute(batch) for m in metrics_of_task(rows.task) if only is None or m.name in only}


V = TypeVar("V")


class _View(Mapping[str, V]):
    """A read-only mapping derived from the catalogue, live (a metric registered later is in it)."""

    def __init__(self, value: Callable[[Metric], V], keep: Callable[[Metric], bool] = lambda _m: True) -> None:
        self._value, self._keep = value, keep

    def __getitem__(self, name: str) -> V:
        metric = CATALOGUE[name]
        if not self._keep(metric):
            raise KeyError(name)
        return self._value(metric)

    def __iter__(self) -> Iterator[str]:
        return (n for n, m in CATALOGUE.items() if self._keep(m))

    def __len__(self) -> int:
        return sum(1 for _ in self)


# Metric name -> True when higher is better. The comparison/gate reads directions from here.
HIGHER_IS_BETTER: Mapping[str, bool] = _View(lambda m: m.higher_is_better)
DEFAULT_MARGINS: Mapping[str, float] = _View(lambda m: m.margin, lambda m: not m.relative)
# Scale-dependent metrics: the default margin is this fraction of the baseline's value (1% of its rmse).
RELATIVE_MARGINS: Mapping[str, float] = _View(lambda m: m.margin, lambda m: m.relative)


def margin_of(name: str, baseline_value: float, overrides: Mapping[str, float]) -> float:
    """The practical margin of ``name`` in metric units: params override, else the catalogue's default."""
    if name in overrides:
        return float(overrides[name])
    info = CATALOGUE.get(name)
    if info is None:
        return 0.0
    return info.margin * abs(baseline_value) if info.relative else info.margin
