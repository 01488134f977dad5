"""The metric catalogue: every metric's name, tasks, direction and default practical margin, in ONE table.

Dependency-free (no numpy, no scikit-learn, no config), so that the params loader can check metric names
without importing the models, and so that a default margin is not a dependency of the DVC stages that
compute metrics. ``core/metrics.py`` computes what this table names.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricInfo:
    """One metric: ``margin`` is the change that matters (in metric units, or a fraction of the baseline's
    value when ``relative``); ``params.yaml`` ``compare.margins`` overrides it."""

    name: str
    tasks: tuple[str, ...]
    higher_is_better: bool
    margin: float
    relative: bool = False


# Half a point for the ranking/probability metrics (0.005); one point for threshold metrics, which move in
# steps of one row on small test sets; 1% of the baseline for scale-dependent ones.
CATALOGUE: dict[str, MetricInfo] = {
    m.name: m
    for m in (
        MetricInfo("roc_auc", ("binary",), True, 0.005),
        MetricInfo("pr_auc", ("binary",), True, 0.005),
        MetricInfo("f1", ("binary",), True, 0.01),
        MetricInfo("precision", ("binary",), True, 0.01),
        MetricInfo("recall", ("binary",), True, 0.01),
        MetricInfo("accuracy", ("binary", "multiclass"), True, 0.01),
        MetricInfo("log_loss", ("binary", "multiclass"), False, 0.01),
        MetricInfo("brier", ("binary",), False, 0.005),
        MetricInfo("f1_macro", ("multiclass",), True, 0.01),
        MetricInfo("precision_macro", ("multiclass",), True, 0.01),
        MetricInfo("recall_macro", ("multiclass",), True, 0.01),
        MetricInfo("roc_auc_ovr", ("multiclass",), True, 0.005),
        MetricInfo("rmse", ("regression",), False, 0.01, relative=True),
        MetricInfo("mae", ("regression",), False, 0.01, relative=True),
        MetricInfo("r2", ("regression",), True, 0.005),
    )
}

# Metric name -> True when higher is better. The comparison/gate reads directions from here.
HIGHER_IS_BETTER: dict[str, bool] = {n: m.higher_is_better for n, m in CATALOGUE.items()}

DEFAULT_PRIMARY_METRIC: dict[str, str] = {"binary": "roc_auc", "multiclass": "f1_macro", "regression": "rmse"}

DEFAULT_MARGINS: dict[str, float] = {n: m.margin for n, m in CATALOGUE.items() if not m.relative}
# Scale-dependent metrics: the default margin is this fraction of the baseline's value (1% of its rmse).
RELATIVE_MARGINS: dict[str, float] = {n: m.margin for n, m in CATALOGUE.items() if m.relative}


def margin_of(name: str, baseline_value: float, overrides: dict[str, float]) -> float:
    """The practical margin of ``name`` in metric units: params override, else the catalogue's default."""
    if name in overrides:
        return float(overrides[name])
    info = CATALOGUE.get(name)
    if info is None:
        return 0.0
    return info.margin * abs(baseline_value) if info.relative else info.margin
