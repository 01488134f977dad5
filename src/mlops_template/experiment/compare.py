"""Baseline vs candidate: bootstrap confidence intervals of metric deltas, verdicts and the gate (pure logic).

Deltas are ``candidate - baseline`` in the metric's own units. "Better" follows
:data:`~mlops_template.core.metric_catalogue.HIGHER_IS_BETTER`: for ``log_loss`` a negative delta is an improvement.

A change counts only when it is both *detectable* (the confidence interval of the delta excludes zero) and
*larger than the metric's practical margin* (``compare.margins``, defaults in
:data:`~mlops_template.core.metric_catalogue.DEFAULT_MARGINS`). Verdicts:

- ``regressed`` / ``improved``: detectable, and the delta is beyond the margin;
- ``changed, but within the margin``: detectable, but too small to matter;
- ``no detectable change``: the interval contains zero and lies within the margin (no change that matters);
- ``not detectable at this data size``: the interval contains zero but reaches beyond the margin: a change that
  matters may be there, and these rows cannot tell.

The report also states the *minimum detectable change* of the primary metric (:func:`minimum_detectable`): the
smallest true change that the gate flags 4 times in 5 with this many rows, from the bootstrap spread.

*Paired* (both models scored on the same rows): every bootstrap resample draws one set of rows and scores both
models on it, so row difficulty cancels out and the interval is tight. The rows are either the test split or,
on small data, the out-of-fold predictions of repeated cross-validation of both models on the same folds
(several prediction sets per model, one per repetition: a resample weights the same rows in each, and a
metric is the mean over the repetitions). *Unpaired* (the test sets differ): each model is resampled on its
own rows; the interval is wider and also contains the difference between the two test sets.

The resamples are evaluated in blocks by :class:`~mlops_template.experiment.resample.ResampledMetrics`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from statistics import NormalDist
from typing import Literal

import numpy as np

from mlops_template.core.config import CompareParams, ConfigError, TaskType
from mlops_template.core.metric_catalogue import DEFAULT_PRIMARY_METRIC, HIGHER_IS_BETTER, margin_of, metrics_of_task
from mlops_template.core.metric_kernels import resample_counts
from mlops_template.core.metrics import Predictions, metrics_of
from mlops_template.experiment.formatting import decimals_for, num, signed
from mlops_template.experiment.resample import ResampledMetrics

Verdict = Literal[
    "improved",
    "regressed",
    "changed, but within the margin",
    "no detectable change",
    "not detectable at this data size",
    "not comparable",
]
POWER = 0.8  # the minimum detectable change is the change flagged this often
# count matrix (b, n) -> metric name -> b values (NaN where a resample cannot be scored)
BlockMetrics = Callable[[np.ndarray], Mapping[str, np.ndarray]]


@dataclass(frozen=True)
class MetricComparison:
    name: str
    baseline: float
    candidate: float
    delta: float
    ci_low: float
    ci_high: float
    higher_is_better: bool
    margin: float
    verdict: Verdict

    @property
    def decimals(self) -> int:
        """Decimals that make this row's delta, interval and margin readable."""
        width = self.ci_high - self.ci_low
        return decimals_for(width / 2, self.margin, self.delta)


@dataclass(frozen=True)
class GateResult:
    passed: bool
    reasons: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Comparison:
    paired: bool
    method: str  # "test split" or "repeated cross-validation (5 folds x 3)"
    rows: int  # rows each model was scored on (the candidate's, when unpaired)
    primary_metric: str
    confidence: float
    resamples: int
    valid_resamples: int
    metrics: list[MetricComparison]
    verdict: Verdict
    gate: GateResult
    candidate_metrics: dict[str, float] = field(default_factory=dict)
    # the smallest true change of the primary metric flagged POWER of the time (None: not comparable)
    minimum_detectable: float | None = None

    @property
    def comparable(self) -> bool:
        return self.verdict != "not comparable"

    def metric(self, name: str) -> MetricComparison:
        for m in self.metrics:
            if m.name == name:
                return m
        raise KeyError(name)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def as_runs(p: Predictions | Sequence[Predictions]) -> list[Predictions]:
    return [p] if isinstance(p, Predictions) else list(p)


def point_metrics(task: TaskType, runs: Sequence[Predictions]) -> dict[str, float]:
    """Metrics of one prediction set, or their mean over the repetitions of a cross-validation."""
    each = [metrics_of(task, p) for p in runs]
    names = [k for k in each[0] if all(k in m for m in each)]
    return {k: round(float(np.mean([m[k] for m in each])), 6) for k in names}


def block_metrics(task: TaskType, runs: Sequence[Predictions], only: frozenset[str] | None = None) -> BlockMetrics:
    """Resampled metrics of one prediction set, or their mean over repetitions on the same rows."""
    scorers = [ResampledMetrics(task, p, only) for p in runs]

    def fn(w: np.ndarray) -> dict[str, np.ndarray]:
        each = [s(w) for s in scorers]
        return {k: np.mean([m[k] for m in each], axis=0) for k in each[0]}

    return fn


def bootstrap_deltas(
    baseline: BlockMetrics,
    candidate: BlockMetrics,
    n_baseline: int,
    n_candidate: int,
    paired: bool,
    resamples: int,
    seed: int,
) -> tuple[dict[str, np.ndarray], int]:
    """Bootstrap distribution of ``candidate - baseline`` for every metric both functions return.

    Paired: one draw of rows serves both (needs ``n_baseline == n_candidate``). Resamples on which a metric
    cannot be computed (e.g. only one class drawn) are dropped for that metric; returns the deltas and the
    number of resamples every metric could use.
    """
    if paired and n_baseline != n_candidate:
        raise ValueError(f"paired bootstrap needs equal test sets, got {n_baseline} and {n_candidate} rows")
    blocks: dict[str, list[np.ndarray]] = {}
    block = max(1, min(resamples, 4_000_000 // max(n_baseline, n_candidate, 1)))  # same block sizes on both sides
    cand_counts = resample_counts(n_candidate, resamples, seed, block)
    base_counts = None if paired else resample_counts(n_baseline, resamples, seed + 1, block)
    for wc in cand_counts:
        wb = wc if base_counts is None else next(base_counts)
        mb, mc = baseline(wb), candidate(wc)
        for name in mc.keys() & mb.keys():
            blocks.setdefault(name, []).append(np.asarray(mc[name]) - np.asarray(mb[name]))
    deltas: dict[str, np.ndarray] = {}
    kept = resamples
    for name, parts in blocks.items():
        values = np.concatenate(parts)
        finite = values[np.isfinite(values)]
        kept = min(kept, len(finite))
        deltas[name] = finite
    return deltas, kept


def percentile_interval(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(samples, [alpha, 1.0 - alpha])
    return float(low), float(high)


def verdict_of(delta: float, ci_low: float, ci_high: float, higher_is_better: bool, margin: float = 0.0) -> Verdict:
    """Detectable = the interval excludes zero (touching zero is not); it matters when ``|delta| > margin``.
    An interval around zero that reaches beyond the margin is inconclusive: not detectable at this data size."""
    gain, low, high = (delta, ci_low, ci_high) if higher_is_better else (-delta, -ci_high, -ci_low)
    if high < 0:
        return "regressed" if -gain > margin else "changed, but within the margin"
    if low > 0:
        return "improved" if gain > margin else "changed, but within the margin"
    if low < -margin or high > margin:
        return "not detectable at this data size"
    return "no detectable change"


def minimum_detectable(deltas: np.ndarray, confidence: float, margin: float, power: float = POWER) -> float | None:
    """The smallest true change (in metric units) that the gate flags ``power`` of the time.

    Normal approximation from the bootstrap spread ``se`` of the delta. A change is flagged when the interval
    excludes zero, which needs a true change of about ``(z(1 - alpha/2) + z(power)) * se``, and when the observed
    change exceeds the margin, which needs ``margin + z(power) * se``; the larger of the two. The spread is this
    pull request's, so the figure describes changes of its kind. None when the delta does not vary at all (the
    two models predict the same on every row: there is no change to size).
    """
    se = float(np.std(deltas, ddof=1)) if len(deltas) > 1 else 0.0
    if not se > 0:
        return None
    z = NormalDist().inv_cdf
    return max((z(1 - (1 - confidence) / 2) + z(power)) * se, margin + z(power) * se)


def primary_metric_of(params: CompareParams, task: TaskType, available: Mapping[str, float]) -> str:
    name = params.primary_metric or DEFAULT_PRIMARY_METRIC[task]
    if name not in available:
        raise ConfigError(
            f"params.yaml: compare.primary_metric: {name!r} is not a metric of task {task!r} "
            f"(available: {', '.join(sorted(available))})"
        )
    return name


def describe(m: MetricComparison, confidence: float) -> str:
    """One line: ``roc_auc 0.9876 -> 0.9756 (delta -0.0120, 95% CI [-0.0200, -0.0040]; margin 0.005)``."""
    d = m.decimals
    return (
        f"{m.name} {num(m.baseline, d)} -> {num(m.candidate, d)} (delta {signed(m.delta, d)}, "
        f"{confidence:.0%} CI [{signed(m.ci_low, d)}, {signed(m.ci_high, d)}]; margin {m.margin:g})"
    )


def evaluate_gate(
    params: CompareParams,
    primary: MetricComparison | None,
    candidate_metrics: Mapping[str, float],
    model_size_mb: float | None = None,
    latency_ms: float | None = None,
    confidence: float | None = None,
) -> GateResult:
    """Apply the gate rules of the base branch's ``compare:``; every failed rule gives one reason.

    ``primary`` is None when the models are not comparable (another task, target or data source): then
    only the absolute limits apply, and floors on metrics the candidate's task does not have are skipped.
    """
    reasons: list[str] = []
    checks: list[str] = []
    conf = params.confidence if confidence is None else confidence
    if primary is not None:
        line = describe(primary, conf)
        if primary.verdict == "regressed":
            reasons.append(f"{primary.name} regressed beyond its margin: {line}")
        else:
            checks.append(f"{primary.name}: {primary.verdict}: {line}")
    for name, limit in params.floors.items():
        if name not in candidate_metrics:
            if primary is None:
                checks.append(f"compare.floors.{name}: skipped, not a metric of the candidate's task")
            else:
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
    if not reasons and not checks:
        checks.append("no absolute limits are set (compare.floors, max_model_size_mb, max_latency_ms)")
    return GateResult(passed=not reasons, reasons=reasons, checks=checks)


def _point_values(fn: BlockMetrics, n: int) -> dict[str, float]:
    """The metrics on all rows: the same vectorised code on unit weights (unrounded, so a delta and its interval
    agree); a metric that cannot be computed (not finite) is left out."""
    return {k: float(v[0]) for k, v in fn(np.ones((1, n), np.float32)).items() if np.isfinite(v[0])}


def _metric_row(name: str, base: float, cand: float, deltas: np.ndarray, params: CompareParams) -> MetricComparison:
    """One metric's delta, its bootstrap interval, margin and verdict."""
    hib = HIGHER_IS_BETTER.get(name, True)
    low, high = percentile_interval(deltas, params.confidence)
    delta = cand - base
    margin = margin_of(name, base, params.margins)
    return MetricComparison(
        name=name,
        baseline=round(base, 8),
        candidate=round(cand, 8),
        delta=round(delta, 8),
        ci_low=round(low, 8),
        ci_high=round(high, 8),
        higher_is_better=hib,
        margin=round(margin, 8),
        verdict=verdict_of(delta, low, high, hib, margin),
    )


def compare_predictions(
    task: TaskType,
    baseline: Predictions | Sequence[Predictions],
    candidate: Predictions | Sequence[Predictions],
    params: CompareParams,
    paired: bool,
    seed: int,
    model_size_mb: float | None = None,
    latency_ms: float | None = None,
    method: str = "test split",
    primary_only: bool = False,
) -> Comparison:
    """Point metrics, bootstrap intervals of the deltas, verdicts and the gate for two prediction sets.

    ``params`` is the policy (the base branch's ``compare:``). ``baseline`` / ``candidate`` are one prediction
    set each, or one per cross-validation repetition (out-of-fold, the same rows in the same order).
    ``primary_only``: bootstrap only the primary metric (the gate's decision is the same; the benchmark
    uses it to simulate thousands of pull requests).
    """
    base_runs, cand_runs = as_runs(baseline), as_runs(candidate)
    n_b, n_c = len(base_runs[0].y_true), len(cand_runs[0].y_true)
    names = {m.name: 0.0 for m in metrics_of_task(task)}
    primary = primary_metric_of(params, task, names)
    only = frozenset([primary]) if primary_only else None
    base_fn, cand_fn = block_metrics(task, base_runs, only), block_metrics(task, cand_runs, only)
    base_m, cand_m = _point_values(base_fn, n_b), _point_values(cand_fn, n_c)
    deltas, kept = bootstrap_deltas(base_fn, cand_fn, n_b, n_c, paired, params.bootstrap_resamples, seed)
    if len(deltas.get(primary, ())) < params.bootstrap_resamples / 2:
        raise ValueError(
            f"only {len(deltas.get(primary, ()))} of {params.bootstrap_resamples} resamples could be scored: "
            "test set too small"
        )
    rows = [
        _metric_row(name, base_m[name], cand_m[name], deltas[name], params)
        for name in cand_m
        if name in base_m
        and not (only and name not in only)
        and len(deltas.get(name, ())) >= params.bootstrap_resamples / 2
    ]
    primary_row = next(r for r in rows if r.name == primary)
    detectable = minimum_detectable(deltas[primary], params.confidence, primary_row.margin)
    gate = evaluate_gate(params, primary_row, point_metrics(task, cand_runs), model_size_mb, latency_ms)
    return Comparison(
        paired=paired,
        method=method,
        rows=n_c,
        primary_metric=primary,
        confidence=params.confidence,
        resamples=params.bootstrap_resamples,
        valid_resamples=kept,
        metrics=rows,
        verdict=primary_row.verdict,
        gate=gate,
        candidate_metrics={k: round(v, 6) for k, v in cand_m.items()},
        minimum_detectable=None if detectable is None else round(detectable, 8),
    )


def candidate_only(
    task: TaskType,
    candidate: Predictions,
    params: CompareParams,
    model_size_mb: float | None = None,
    latency_ms: float | None = None,
) -> Comparison:
    """The models are not comparable (task, target or data source changed): the candidate's metrics, and a
    gate of the absolute limits only."""
    cand_m = metrics_of(task, candidate)
    primary = params.primary_metric if params.primary_metric in cand_m else DEFAULT_PRIMARY_METRIC[task]
    gate = evaluate_gate(params, None, cand_m, model_size_mb, latency_ms)
    return Comparison(
        paired=False,
        method="candidate only",
        rows=len(candidate.y_true),
        primary_metric=primary,
        confidence=params.confidence,
        resamples=0,
        valid_resamples=0,
        metrics=[],
        verdict="not comparable",
        gate=gate,
        candidate_metrics=cand_m,
    )
