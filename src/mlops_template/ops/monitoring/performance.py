"""Live performance of the served (champion) model: ground-truth labels joined to logged predictions.

Pure functions of frames (the I/O is in ops/monitoring/labels.py and window.py), with the PR gate's statistics:

- the window is the champion predictions of the last ``monitor.label_horizon_days`` days (labels arrive late:
  a prediction is joined to its label whenever the label arrives inside that horizon);
- the primary metric (``compare.primary_metric`` or the task's default) on the labelled predictions, with a
  percentile bootstrap interval at ``compare.confidence`` (experiment/resample.py, the gate's resampler);
- it is compared with the model's own test metric (``metrics/metrics.json``, the card's test metrics) with
  the gate's practical margin (``compare.margins`` / ``DEFAULT_MARGINS``): **degraded** when the interval
  lies entirely below ``test - margin`` (for lower-is-better metrics such as rmse: entirely above
  ``test + margin``);
- the test metric is itself an estimate from a test set of a few hundred rows: the evaluate stage records its
  bootstrap standard error ``se`` (``metrics/test_uncertainty.json``), and the interval's bound on the side of
  the verdict is widened to ``live +- sqrt(half_width**2 + (z * se)**2)`` (``z`` of ``compare.confidence``), the
  interval of ``live - test`` for two independent estimates. Without that file the test metric counts as exact
  (as before, and the benchmark shows the false alarms that gives: benchmarks/results/performance.md);
- for classifiers, a confidence-based performance estimate (CBPE, as NannyML's) of the unlabelled part from
  the logged probabilities: every row counts as its positive class with weight ``p`` and as the negative
  with weight ``1 - p``, and the same metric code scores that expected confusion. An estimate, it assumes
  calibrated probabilities and never triggers anything.

Bad label rows (unreadable lines, type errors, duplicate ids, ids the log never served) are counted and
bounded by ``monitor.max_bad_label_share``, like unreadable log lines.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from mlops_template.core.config import ConfigError, Params, TaskType
from mlops_template.core.metric_catalogue import CATALOGUE, DEFAULT_PRIMARY_METRIC, HIGHER_IS_BETTER, margin_of
from mlops_template.core.metric_kernels import resample_counts
from mlops_template.core.metrics import Predictions
from mlops_template.experiment.compare import percentile_interval
from mlops_template.experiment.resample import ResampledMetrics


@dataclass(frozen=True)
class Setup:
    task: TaskType
    classes: tuple[Any, ...] | None
    metric: str
    test_value: float
    margin: float
    confidence: float
    resamples: int
    seed: int
    min_labelled_rows: int
    max_bad_label_share: float
    horizon_days: float
    test_se: float | None = None  # the test metric's bootstrap standard error; None: unknown (taken as exact)

    @property
    def higher_is_better(self) -> bool:
        return HIGHER_IS_BETTER[self.metric]


def setup_of(
    params: Params,
    classes: list[Any] | None,
    test_metrics: dict[str, float],
    test_errors: dict[str, float] | None = None,
) -> Setup:
    """What the verdict needs: the primary metric, the model's test value of it (and its standard error, from
    ``test_errors``, when known) and the gate's margin."""
    metric = params.compare.primary_metric or DEFAULT_PRIMARY_METRIC[params.task]
    if metric not in test_metrics:
        raise ConfigError(
            f"metrics/metrics.json has no {metric!r} (compare.primary_metric): the served model's test metric is "
            "the reference of live performance; run `make repro` or set compare.primary_metric"
        )
    test = float(test_metrics[metric])
    return Setup(
        task=params.task,
        classes=None if classes is None else tuple(classes),
        metric=metric,
        test_value=test,
        margin=margin_of(metric, test, params.compare.margins),
        confidence=params.compare.confidence,
        resamples=params.compare.bootstrap_resamples,
        seed=params.seed,
        min_labelled_rows=params.monitor.min_labelled_rows,
        max_bad_label_share=params.monitor.max_bad_label_share,
        horizon_days=params.monitor.label_horizon_days,
        test_se=None if test_errors is None or metric not in test_errors else float(test_errors[metric]),
    )


def key_of(value: Any) -> str | None:
    """One spelling per value, so that 7, 7.0 and "7" (JSON, CSV, Parquet) name the same id or class."""
    if value is None or (isinstance(value, float | np.floating) and math.isnan(value)):
        return None
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    text = str(value).strip()
    return text or None


def coerce(values: pd.Series, setup: Setup) -> pd.Series:
    """Targets as the model's classes (classifiers) or floats (regression); None where the type is wrong."""
    if setup.classes is None:
        numbers = pd.to_numeric(values, errors="coerce")
        ok = numbers.notna() & np.isfinite(numbers.astype(float)) & ~values.map(lambda v: isinstance(v, bool))
        return numbers.astype(object).where(ok, None)
    by_key = {key_of(c): c for c in setup.classes}
    return values.map(lambda v: by_key.get(key_of(v)))


@dataclass
class Joined:
    labelled: pd.DataFrame  # id, y, label (predicted), score, ts (prediction), label_ts
    unlabelled: pd.DataFrame  # label, score of the window's predictions without a label
    counts: dict[str, int]
    examples: list[str]  # why label rows were rejected


def _window(predictions: pd.DataFrame, setup: Setup, now: datetime) -> tuple[pd.DataFrame, set[str], dict[str, int]]:
    """The champion predictions of the horizon (one per id: the latest), and the ids of older ones."""
    preds = predictions.assign(key=predictions["id"].map(key_of), label=coerce(predictions["label"], setup))
    preds["score"] = pd.to_numeric(preds["score"], errors="coerce")
    counts = {"predictions_without_id": int(preds["key"].isna().sum())}
    usable = preds["key"].notna() & preds["label"].notna() & preds["score"].notna()
    counts["predictions_unusable"] = int((preds["key"].notna() & ~usable).sum())
    preds = preds[usable].sort_values("ts", kind="stable")
    inside = preds["ts"] >= now - timedelta(days=setup.horizon_days)
    older = set(preds.loc[~inside, "key"])
    window = preds[inside]
    counts["duplicate_prediction_ids"] = int(window["key"].duplicated().sum())
    counts["predictions_in_window"] = len(window)
    return window.drop_duplicates("key", keep="last"), older - set(window["key"]), counts


def join(predictions: pd.DataFrame, labels: pd.DataFrame, setup: Setup, now: datetime, malformed: int = 0) -> Joined:
    """Labels joined to the window's predictions by id; every rejected label row counted by reason."""
    window, older, counts = _window(predictions, setup, now)
    rows = labels.assign(key=labels["id"].map(key_of), y=coerce(labels["y"], setup))
    bad_id, bad_y = rows["key"].isna(), rows["key"].notna() & rows["y"].isna()
    examples = [f"a row without an id (label {v!r})" for v in labels.loc[bad_id, "y"].head(2)]
    wrong = labels.loc[bad_y, ["id", "y"]].head(3).itertuples(index=False)
    examples += [f"id {i!r}: label {v!r} is not a {_expected(setup)}" for i, v in wrong]
    rows = rows[~bad_id & ~bad_y].sort_values("ts", kind="stable", na_position="first")
    duplicated = rows["key"].duplicated(keep="last")
    rows = rows[~duplicated]
    known = rows["key"].isin(set(window["key"]))
    expired = ~known & rows["key"].isin(older)
    unknown = ~known & ~expired
    examples += [f"id {i!r}: no logged prediction has it" for i in rows.loc[unknown, "id"].head(3)]
    counts |= {
        "label_rows": len(labels) + malformed,
        "malformed": malformed,
        "type_errors": int(bad_id.sum() + bad_y.sum()),
        "duplicate_ids": int(duplicated.sum()),
        "unknown_ids": int(unknown.sum()),
        "outside_horizon": int(expired.sum()),
    }
    counts["bad"] = counts["malformed"] + counts["type_errors"] + counts["duplicate_ids"] + counts["unknown_ids"]
    matched = rows[known].rename(columns={"ts": "label_ts"})[["key", "y", "label_ts"]]
    labelled = window.merge(matched, on="key", how="inner")
    unlabelled = window[~window["key"].isin(set(matched["key"]))]
    counts["labelled"] = len(labelled)
    return Joined(labelled, unlabelled[["label", "score"]], counts, examples)


def _expected(setup: Setup) -> str:
    return "number" if setup.classes is None else f"class of the model ({', '.join(map(str, setup.classes))})"


def predictions_of(frame: pd.DataFrame, setup: Setup) -> Predictions:
    """Logged outputs (and labels) as the evaluation code's Predictions. Binary: score = P(last class);
    multiclass: the top probability at the predicted class, the rest spread evenly (only the metrics that
    need the predicted label are scored from it); regression: the score is the prediction."""
    y_true = np.array(frame["y"].tolist())
    pred, score = np.array(frame["label"].tolist()), frame["score"].to_numpy(dtype=float)
    ids = np.arange(len(frame))
    if setup.classes is None:
        return Predictions(ids, y_true.astype(float), score, None, None)
    classes = np.asarray(setup.classes)
    if setup.task == "binary":
        proba = np.column_stack([1.0 - score, score])
    else:
        k = len(classes)
        proba = np.tile(((1.0 - score) / max(k - 1, 1))[:, None], (1, k))
        proba[np.arange(len(frame)), np.searchsorted(classes, pred)] = score
    return Predictions(ids, y_true, pred, np.clip(proba, 0.0, 1.0), classes)


def metric_value(setup: Setup, p: Predictions, weights: np.ndarray | None = None) -> float:
    """The primary metric of the rows (weighted), NaN where it is undefined (e.g. one class only)."""
    w = np.ones((1, len(p.y_true)), dtype=np.float64) if weights is None else weights[None, :]
    return float(ResampledMetrics(setup.task, p, frozenset({setup.metric}))(w)[setup.metric][0])


def bootstrap_interval(setup: Setup, p: Predictions) -> tuple[float, float, int]:
    """Percentile interval of the metric over ``compare.bootstrap_resamples`` resamples of the labelled rows."""
    scorer = ResampledMetrics(setup.task, p, frozenset({setup.metric}))
    parts = [scorer(w)[setup.metric] for w in resample_counts(len(p.y_true), setup.resamples, setup.seed)]
    values = np.concatenate(parts)
    values = values[np.isfinite(values)]
    if len(values) < setup.resamples / 2:
        return math.nan, math.nan, len(values)
    low, high = percentile_interval(values, setup.confidence)
    return low, high, len(values)


def cbpe(setup: Setup, frame: pd.DataFrame) -> tuple[str, float] | None:
    """Confidence-based estimate of a metric from the logged probabilities (no labels): binary, the primary
    metric of the expected confusion (each row is positive with weight p, negative with 1 - p); multiclass,
    the expected accuracy (the mean top probability). None for regression or no rows."""
    if setup.classes is None or frame.empty:
        return None
    score = frame["score"].to_numpy(dtype=float)
    if setup.task != "binary":
        return "accuracy", float(score.mean())
    n, classes = len(score), setup.classes
    doubled = pd.DataFrame(
        {
            "y": [classes[-1]] * n + [classes[0]] * n,
            "label": frame["label"].tolist() * 2,
            "score": np.concatenate([score, score]),
        }
    )
    return setup.metric, metric_value(setup, predictions_of(doubled, setup), np.concatenate([score, 1.0 - score]))


def label_delay(labelled: pd.DataFrame) -> dict[str, float | int] | None:
    """Hours from prediction to label (rows whose label has a ``ts``): median and 90th percentile."""
    if labelled.empty or labelled["label_ts"].isna().all():
        return None
    hours = (labelled["label_ts"] - labelled["ts"]).dropna().dt.total_seconds() / 3600.0
    return {"rows": len(hours), "median_hours": float(hours.median()), "p90_hours": float(hours.quantile(0.9))}


def bad_share_message(counts: dict[str, int], examples: list[str], setup: Setup) -> str | None:
    """The error when more label rows are unusable than ``monitor.max_bad_label_share`` allows."""
    rows = counts["label_rows"]
    if not rows or counts["bad"] / rows <= setup.max_bad_label_share:
        return None
    return (
        f"{counts['bad']} of {rows} label rows are unusable (more than monitor.max_bad_label_share = "
        f"{setup.max_bad_label_share:.0%}): {counts['malformed']} unreadable, {counts['type_errors']} of the wrong "
        f"type, {counts['duplicate_ids']} duplicate ids, {counts['unknown_ids']} ids no logged prediction has; e.g. "
        f"{'; '.join(examples[:4])}. Are these the labels of this service's predictions (id = data.id_column)?"
    )


def verdict(setup: Setup, low: float, high: float) -> str:
    """degraded: the whole interval is worse than the test metric by more than the margin."""
    if setup.higher_is_better:
        return "degraded" if high < setup.test_value - setup.margin else "ok"
    return "degraded" if low > setup.test_value + setup.margin else "ok"


def widened(setup: Setup, live: float, low: float, high: float) -> tuple[float, float]:
    """The live interval with the test metric's own sampling error added in quadrature on each side:
    ``live - sqrt((live - low)**2 + (z se)**2)``, ``live + sqrt((high - live)**2 + (z se)**2)``, so that the
    verdict compares ``live - test`` (two independent estimates), not ``live`` with an exact number. Unchanged
    when the standard error is unknown."""
    if not setup.test_se:
        return low, high
    from scipy.stats import norm

    extra = float(norm.ppf(0.5 + setup.confidence / 2.0)) * setup.test_se
    return live - math.hypot(live - low, extra), live + math.hypot(high - live, extra)


def estimate_block(setup: Setup, joined: Joined) -> dict[str, Any] | None:
    unlabelled = cbpe(setup, joined.unlabelled)
    on_labelled = cbpe(setup, joined.labelled)
    if unlabelled is None and on_labelled is None:
        return None
    metric = (unlabelled or on_labelled or ("", 0.0))[0]
    return {
        "method": "CBPE: confidence-based performance estimation from the logged probabilities",
        "metric": metric,
        "unlabelled_rows": len(joined.unlabelled),
        "value": None if unlabelled is None else round(unlabelled[1], 6),
        "on_labelled_rows": None if on_labelled is None else round(on_labelled[1], 6),
        "note": "an estimate (assumes calibrated probabilities); it never triggers anything",
    }


def _measure(setup: Setup, joined: Joined) -> tuple[str, str, dict[str, Any]]:
    """Status, message and the metric fields of a window with labels."""
    n = len(joined.labelled)
    # multiclass logs hold the top probability only: a metric that reads every class's probability cannot be scored
    if setup.task == "multiclass" and CATALOGUE[setup.metric].probabilities:
        return "unavailable", f"{setup.metric} needs every class's probability; the log holds the top one only", {}
    if n < setup.min_labelled_rows:
        why = f"only {n} labelled predictions in the window, fewer than monitor.min_labelled_rows = "
        return "insufficient_labels", why + f"{setup.min_labelled_rows}. No verdict.", {}
    p = predictions_of(joined.labelled, setup)
    live = metric_value(setup, p)
    low, high, used = bootstrap_interval(setup, p)
    if not (math.isfinite(live) and math.isfinite(low)):
        return "insufficient_labels", f"{setup.metric} is undefined on these {n} labels (one class only?)", {}
    wide_low, wide_high = widened(setup, live, low, high)
    fields = {"live_value": round(live, 6), "ci_low": round(low, 6), "ci_high": round(high, 6), "resamples": used}
    fields |= {"rule_low": round(wide_low, 6), "rule_high": round(wide_high, 6)}
    status = verdict(setup, wide_low, wide_high)
    side = "below" if setup.higher_is_better else "above"
    bound = setup.test_value - setup.margin if setup.higher_is_better else setup.test_value + setup.margin
    test = f"{setup.test_value:.4f} on the test set"
    if setup.test_se:
        test += f" (standard error {setup.test_se:.4f}; the interval widened by it: [{wide_low:.4f}, {wide_high:.4f}])"
    else:
        test += " (taken as exact: no standard error recorded; `make repro` writes metrics/test_uncertainty.json)"
    message = (
        f"live {setup.metric} {live:.4f} ({setup.confidence:.0%} CI [{low:.4f}, {high:.4f}]) on {n} labelled "
        f"predictions vs {test}, margin {setup.margin:g}: "
        + (f"the interval lies entirely {side} {bound:.4f}." if status == "degraded" else f"not {side} {bound:.4f}.")
    )
    return status, message, fields


def performance_block(
    predictions: pd.DataFrame, labels: pd.DataFrame, setup: Setup, now: datetime, malformed: int = 0
) -> dict[str, Any]:
    """The ``performance`` block of summary.json (pure): status, message, live metric and interval, coverage,
    delay, the bad-label counts and the CBPE estimate."""
    joined = join(predictions, labels, setup, now, malformed)
    counts = joined.counts
    error = bad_share_message(counts, joined.examples, setup)
    fields: dict[str, Any]
    if error:
        status, message, fields = "error", error, {}
    elif counts["label_rows"] == 0:
        status, message, fields = "insufficient_labels", "the labels source holds no rows: no labels yet.", {}
    else:
        status, message, fields = _measure(setup, joined)
    window = counts["predictions_in_window"] - counts["duplicate_prediction_ids"]
    return {
        "status": status,
        "message": message,
        "metric": setup.metric,
        "higher_is_better": setup.higher_is_better,
        "test_value": setup.test_value,
        "test_se": setup.test_se,
        "margin": setup.margin,
        "confidence": setup.confidence,
        "live_value": None,
        "ci_low": None,
        "ci_high": None,
        "rule_low": None,
        "rule_high": None,
        **fields,
        "horizon_days": setup.horizon_days,
        "predictions_in_window": window,
        "labelled_rows": counts["labelled"],
        "label_coverage": round(counts["labelled"] / window, 6) if window else None,
        "label_delay": label_delay(joined.labelled),
        "counts": counts,
        "bad_label_examples": joined.examples,
        "estimate": estimate_block(setup, joined),
    }
