"""Baseline vs candidate: bootstrap confidence intervals of metric deltas, verdicts and the gate (pure logic).

Deltas are ``candidate - baseline`` in the metric's own units. "Better" follows
:data:`~mlops_template.evaluation.metrics.HIGHER_IS_BETTER`: for ``log_loss`` a negative delta is an improvement.

*Paired* (both models scored on the same rows): every bootstrap resample draws one set of row indices and
scores both models on it, so row difficulty cancels out and the interval is tight. *Unpaired* (the test sets
differ, e.g. the pull request changed the data or the split): each model is resampled on its own test set,
independently; the interval is wider and also contains the difference between the two test sets.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np

from mlops_template.config import CompareParams, ConfigError, TaskType
from mlops_template.evaluation.metrics import DEFAULT_PRIMARY_METRIC, HIGHER_IS_BETTER, Predictions, metrics_of

Verdict = Literal["improved", "no significant change", "regressed"]
IndexMetrics = Callable[[np.ndarray], Mapping[str, float]]


@dataclass(frozen=True)
class MetricComparison:
    name: str
    baseline: float
    candidate: float
    delta: float
    ci_low: float
    ci_high: float
    higher_is_better: bool
    verdict: Verdict


@dataclass(frozen=True)
class GateResult:
    passed: bool
    reasons: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Comparison:
    paired: bool
    primary_metric: str
    confidence: float
    resamples: int
    valid_resamples: int
    metrics: list[MetricComparison]
    verdict: Verdict
    gate: GateResult

    def metric(self, name: str) -> MetricComparison:
        for m in self.metrics:
            if m.name == name:
                return m
        raise KeyError(name)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def take(p: Predictions, idx: np.ndarray) -> Predictions:
    """The predictions of the rows ``idx`` (with repetition, as a bootstrap resample draws them)."""
    return Predictions(
        ids=p.ids[idx],
        y_true=p.y_true[idx],
        y_pred=p.y_pred[idx],
        proba=None if p.proba is None else p.proba[idx],
        classes=p.classes,
    )


def bootstrap_deltas(
    baseline: IndexMetrics,
    candidate: IndexMetrics,
    n_baseline: int,
    n_candidate: int,
    paired: bool,
    resamples: int,
    seed: int,
) -> tuple[dict[str, np.ndarray], int]:
    """Bootstrap distribution of ``candidate - baseline`` for every metric both functions return.

    ``baseline`` / ``candidate`` map an index array (rows drawn with replacement) to metric values.
    Paired: one index draw serves both (needs ``n_baseline == n_candidate``). A resample on which a metric
    cannot be computed (e.g. only one class drawn) is skipped; returns the deltas and the count kept.
    """
    if paired and n_baseline != n_candidate:
        raise ValueError(f"paired bootstrap needs equal test sets, got {n_baseline} and {n_candidate} rows")
    rng = np.random.default_rng(seed)
    deltas: dict[str, list[float]] = {}
    kept = 0
    for _ in range(resamples):
        idx_c = rng.integers(0, n_candidate, n_candidate)
        idx_b = idx_c if paired else rng.integers(0, n_baseline, n_baseline)
        try:
            mb, mc = baseline(idx_b), candidate(idx_c)
        except ValueError:
            continue
        kept += 1
        for name in mc.keys() & mb.keys():
            deltas.setdefault(name, []).append(mc[name] - mb[name])
    return {k: np.asarray(v, dtype=float) for k, v in deltas.items()}, kept


def percentile_interval(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(samples, [alpha, 1.0 - alpha])
    return float(low), float(high)


def verdict_of(ci_low: float, ci_high: float, higher_is_better: bool) -> Verdict:
    """Improved / regressed only when the whole interval lies on one side of zero (touching zero = no change)."""
    better_low, better_high = (ci_low, ci_high) if higher_is_better else (-ci_high, -ci_low)
    if better_low > 0:
        return "improved"
    if better_high < 0:
        return "regressed"
    return "no significant change"


def primary_metric_of(params: CompareParams, task: TaskType, available: Mapping[str, float]) -> str:
    name = params.primary_metric or DEFAULT_PRIMARY_METRIC[task]
    if name not in available:
        raise ConfigError(
            f"params.yaml: compare.primary_metric: {name!r} is not a metric of task {task!r} "
            f"(available: {', '.join(sorted(available))})"
        )
    return name


def evaluate_gate(
    params: CompareParams,
    primary: MetricComparison,
    candidate_metrics: Mapping[str, float],
    model_size_mb: float | None = None,
    latency_ms: float | None = None,
) -> GateResult:
    """Apply the gate rules of params.yaml ``compare:``; every failed rule gives one reason."""
    reasons: list[str] = []
    checks: list[str] = []
    drop = -primary.delta if primary.higher_is_better else primary.delta
    ci = f"{params.confidence:.0%} CI of delta [{primary.ci_low:+.4f}, {primary.ci_high:+.4f}]"
    if primary.verdict == "regressed" and drop > params.max_drop:
        reasons.append(
            f"{primary.name} regressed: {primary.baseline:.4f} -> {primary.candidate:.4f} "
            f"(delta {primary.delta:+.4f}, {ci}; allowed drop {params.max_drop:g})"
        )
    else:
        within = f", within the allowed drop {params.max_drop:g}" if primary.verdict == "regressed" else ""
        checks.append(f"{primary.name}: {primary.verdict} (delta {primary.delta:+.4f}, {ci}{within})")
    for name, limit in params.floors.items():
        if name not in candidate_metrics:
            reasons.append(f"compare.floors.{name}: {name!r} is not a metric of this task")
            continue
        value = candidate_metrics[name]
        hib = HIGHER_IS_BETTER[name]
        ok = value >= limit if hib else value <= limit
        rule = f"{name} {'>=' if hib else '<='} {limit:g}"
        (checks if ok else reasons).append(f"{rule}: candidate {value:.4f}" + ("" if ok else " (floor missed)"))
    if params.max_model_size_mb is not None and model_size_mb is not None:
        ok = model_size_mb <= params.max_model_size_mb
        msg = f"model size {model_size_mb:.3f} MB (limit {params.max_model_size_mb:g} MB)"
        (checks if ok else reasons).append(msg if ok else msg + " exceeds the limit")
    if params.max_latency_ms is not None and latency_ms is not None:
        ok = latency_ms <= params.max_latency_ms
        msg = f"single-row latency {latency_ms:.2f} ms (limit {params.max_latency_ms:g} ms)"
        (checks if ok else reasons).append(msg if ok else msg + " exceeds the limit")
    return GateResult(passed=not reasons, reasons=reasons, checks=checks)


def compare_predictions(
    task: TaskType,
    baseline: Predictions,
    candidate: Predictions,
    params: CompareParams,
    paired: bool,
    seed: int,
    model_size_mb: float | None = None,
    latency_ms: float | None = None,
) -> Comparison:
    """Point metrics, bootstrap intervals of the deltas, verdicts and the gate for two prediction sets."""
    base_m = metrics_of(task, baseline)
    cand_m = metrics_of(task, candidate)
    primary = primary_metric_of(params, task, cand_m)
    deltas, kept = bootstrap_deltas(
        lambda idx: metrics_of(task, take(baseline, idx)),
        lambda idx: metrics_of(task, take(candidate, idx)),
        len(baseline.y_true),
        len(candidate.y_true),
        paired,
        params.bootstrap_resamples,
        seed,
    )
    if kept < params.bootstrap_resamples / 2:
        raise ValueError(f"only {kept} of {params.bootstrap_resamples} resamples could be scored: test set too small")
    rows: list[MetricComparison] = []
    for name in cand_m:
        if name not in base_m or name not in deltas:
            continue
        hib = HIGHER_IS_BETTER.get(name, True)
        low, high = percentile_interval(deltas[name], params.confidence)
        rows.append(
            MetricComparison(
                name=name,
                baseline=base_m[name],
                candidate=cand_m[name],
                delta=round(cand_m[name] - base_m[name], 6),
                ci_low=round(low, 6),
                ci_high=round(high, 6),
                higher_is_better=hib,
                verdict=verdict_of(low, high, hib),
            )
        )
    primary_row = next(r for r in rows if r.name == primary)
    gate = evaluate_gate(params, primary_row, cand_m, model_size_mb, latency_ms)
    return Comparison(
        paired=paired,
        primary_metric=primary,
        confidence=params.confidence,
        resamples=params.bootstrap_resamples,
        valid_resamples=kept,
        metrics=rows,
        verdict=primary_row.verdict,
        gate=gate,
    )
